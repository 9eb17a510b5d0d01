"""The interface every venue implements (Binance Spot, the local simulator behind the same
Binance wire format, …). Synchronous on purpose: Celery workers call it.

Commands raise the error tree of `apps.exchange.errors`; a TemporaryVenueError on a command
means the outcome is UNKNOWN — callers look the order up by client order id before sending
it again, never resubmit blindly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from apps.core.domain import SymbolFilters

from .domain import Kline, OrderRequest, VenueBalance, VenueOrder, VenueTrade


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

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]: ...

    def trades_since(
        self, *, symbol: str, from_trade_id: int, limit: int = 1000, start: datetime | None = None
    ) -> list[VenueTrade]:
        """The account's trades on `symbol` with id >= from_trade_id, oldest first; with
        `start`, the first trades at or after that time instead (within 24 h)."""
        ...

    def symbol_filters(self, *, symbol: str) -> SymbolFilters: ...

    def balances(self) -> list[VenueBalance]:
        """The account's non-zero balances (free and locked)."""
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
