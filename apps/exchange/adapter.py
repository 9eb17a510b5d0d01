"""The interface every venue implements (Binance Spot, the local simulator, …).

Synchronous on purpose: Celery workers call it. Issue #4 adds trades, filters, klines and the
user-event stream; execution needs only these three commands.
"""

from __future__ import annotations

from typing import Protocol

from .domain import OrderRequest, VenueOrder


class ExchangeAdapter(Protocol):
    def place_order(self, request: OrderRequest) -> VenueOrder:
        """Send a new order. Raises InvalidOrder (refused) or TemporaryVenueError (unknown)."""
        ...

    def cancel_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        """Cancel by our client order id. Raises OrderNotFound if the venue has no such open order."""
        ...

    def get_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        """Look an order up by our client order id. Raises OrderNotFound."""
        ...
