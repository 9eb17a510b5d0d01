"""The interface every venue implements (Binance Spot, the local simulator behind the same
Binance wire format, …). Synchronous on purpose: Celery workers call it.

Commands raise the error tree of `apps.exchange.errors`; a TemporaryVenueError on a command
means the outcome is UNKNOWN — callers look the order up by client order id before sending
it again, never resubmit blindly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from apps.core.domain import SymbolFilters

from .domain import Kline, OrderRequest, VenueBalances, VenueOrder, VenueTrade
from .errors import OrderNotSent

#: The shortest validity worth sending a new order with: below it, the guard refuses.
MIN_SEND_WINDOW_MS = 500


@dataclass(frozen=True)
class SendGuard:
    """What must still hold when a new order leaves for the venue. The adapter asks it
    immediately before the request, after any wait (rate-limit budgets, a clock resync), so
    that a wait of seconds cannot carry an order past a kill switch engaged meanwhile.

    `refusal()` returns a local reason code not to send (None: go). `deadline` (epoch
    seconds) is when the sender's claim on the order ends: the adapter makes the venue
    refuse the request if it arrives later (Binance's recvWindow), so that once the claim has
    ended an order the venue does not know was never placed and never will be, and another
    attempt may look it up and send it without a risk of placing it twice."""

    deadline: float
    refusal: Callable[[], str | None]

    def clearance_ms(self, *, longest_ms: int, now: float | None = None) -> int:
        """The validity (ms) to send with: at most `longest_ms`, ending by the deadline.
        Raises OrderNotSent when too little time is left or the guard refuses. The deadline
        is checked first: past it, another attempt may own the order, and this one's
        refusal must not speak for it."""
        self._left_ms(now)
        code = self.refusal()
        if code is not None:
            raise OrderNotSent(f"Not sent: {code}.", code=code)
        return min(longest_ms, self._left_ms(now))

    def _left_ms(self, now: float | None) -> int:
        left_ms = int((self.deadline - (time.time() if now is None else now)) * 1000)
        if left_ms < MIN_SEND_WINDOW_MS:
            raise OrderNotSent("Not sent: this attempt's lease ran out.", code="send_window_closed")
        return left_ms


class ExchangeAdapter(Protocol):
    def place_order(self, request: OrderRequest, *, guard: SendGuard | None = None) -> VenueOrder:
        """Send a new order. Raises InvalidOrder (refused), TemporaryVenueError (unknown) or
        OrderNotSent (`guard` said no right before the request: certainly not sent)."""
        ...

    def cancel_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancel by our client order id. Raises OrderNotFound if the venue has no such open order."""
        ...

    def get_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        """Look an order up by our client order id. Raises OrderNotFound."""
        ...

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]: ...

    def trades_since(
        self, *, symbol: str, from_trade_id: int, limit: int = 1000, start: datetime | None = None
    ) -> list[VenueTrade]:
        """The account's trades on `symbol` with id >= from_trade_id, oldest first; with
        `start`, the first trades at or after that time instead (within 24 h)."""
        ...

    def symbol_filters(self, *, symbol: str) -> SymbolFilters: ...

    def balances(self) -> VenueBalances:
        """The account's non-zero balances (free and locked), with the venue time they are as
        of (the local time taken before the request when the venue gives none)."""
        ...

    def klines(
        self,
        *,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[Kline]: ...
