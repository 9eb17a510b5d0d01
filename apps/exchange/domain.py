"""Exchange-boundary DTOs: what an adapter takes and returns (Decimal, never float)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The exchange's view of one order."""

    symbol: str
    client_order_id: str
    exchange_order_id: str
    status: OrderStatus
    executed_quantity: Decimal
    cumulative_quote: Decimal
    updated_at: datetime | None = None
    # The order's terms, for orders we did not place (found on the venue by reconciliation).
    side: Side | None = None
    order_type: OrderType | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueBalance:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class VenueBalances:
    """The account's balances as one snapshot, and the venue's time it is as of.

    `as_of` is the venue's own clock (Binance: the account's `updateTime`, its last balance
    change), the clock trades' `executed_at` come from: every trade executed up to and
    including `as_of` is in `balances`, none after it. A local time after the reply would
    claim trades made while the request was on its way, though the snapshot misses them."""

    balances: list[VenueBalance]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One of the account's trades (myTrades / executionReport with x=TRADE)."""

    symbol: str
    trade_id: int
    exchange_order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class Kline:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: datetime
