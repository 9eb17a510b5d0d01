"""One error tree for every venue; adapters translate at the edge (`raise … from e`).

- `TemporaryVenueError`: retry with backoff (network, 5xx, timeouts). For a command
  (place/cancel) the outcome is UNKNOWN: look the order up before sending it again.
- `RateLimited`: temporary, with the venue's `retry_after` seconds.
- `InvalidOrder`: the venue refused the order; never retry. Carries the venue's text.
- `OrderNotFound`: the venue does not know the order.
- `FatalVenueError`: authentication/permissions; stop trading on the account.
- `OrderNotSent`: the adapter did not send the order (a `SendGuard` said no just before the
  request): a local denial with a reason code, not the venue's answer. Certain, not unknown.
"""

from __future__ import annotations


class VenueError(Exception):
    def __init__(self, message: str, *, venue_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.venue_code = venue_code


class TemporaryVenueError(VenueError):
    pass


class RateLimited(TemporaryVenueError):
    def __init__(self, message: str, *, retry_after: float, venue_code: int | None = None) -> None:
        super().__init__(message, venue_code=venue_code)
        self.retry_after = retry_after


class InvalidOrder(VenueError):
    pass


class OrderNotFound(VenueError):
    pass


class FatalVenueError(VenueError):
    pass


class OrderNotSent(VenueError):
    """The order never left the process; `code` is the local reason (`SendGuard`)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
