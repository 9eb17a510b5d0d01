"""The strategy runtime interface shared by the live engine and the backtester.

A runtime is a pure, deterministic object: it is fed closed candles, its own fills and its
own orders' status changes, and answers with intents (place, cancel). It does no I/O, never
reads the clock and keeps everything it needs in a JSON-serializable state (`snapshot`), so
the live engine can persist it after every step and a restarted worker, or a backtest, gets
exactly the same decisions from the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from apps.core.domain import OrderStatus, OrderType, Side
from apps.exchange.matching import slot_init


@dataclass(frozen=True, slots=True)
class CandleBar:
    """One closed candle of the strategy's symbol and interval."""

    open_time: datetime
    close_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@slot_init  # built per order: the frozen dataclass's `__init__` without object.__setattr__
@dataclass(frozen=True, slots=True)
class PlaceIntent:
    """Place an order. `price` is None for MARKET; values are already quantized to filters."""

    client_order_id: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    tag: str


@dataclass(frozen=True, slots=True)
class CancelIntent:
    client_order_id: str
    tag: str


Intent = PlaceIntent | CancelIntent


@dataclass(frozen=True, slots=True)
class FillReport:
    """One fill (trade) of one of the strategy's own orders."""

    client_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    executed_at: datetime


#: The statuses `on_order_update` acts on; anything else is ignored.
TERMINAL_UPDATES = frozenset({OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A status change of one of the strategy's orders: CANCELED, REJECTED, EXPIRED or FILLED.

    REJECTED also covers an intent refused before it reached the exchange (risk, kill switch).
    """

    client_order_id: str
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class QuietBand:
    """While a closed candle's close is strictly inside (low, high), `on_candle` is a no-op.

    No-op means: it returns no intents and leaves the state (and so `snapshot()`) unchanged,
    so a backtester may skip such candles entirely. None on a side means unbounded. The band
    is conservative: a candle outside it may still be a no-op.
    """

    low: Decimal | None
    high: Decimal | None

    def contains(self, close: Decimal) -> bool:
        return (self.low is None or close > self.low) and (self.high is None or close < self.high)


@runtime_checkable
class StrategyRuntime(Protocol):
    """What the live engine and the backtester drive. Every method is deterministic."""

    def on_fill(self, fill: FillReport) -> list[Intent]: ...

    def on_order_update(self, update: OrderUpdate) -> list[Intent]: ...

    def on_candle(self, bar: CandleBar) -> list[Intent]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def quiet_band(self) -> QuietBand | None:
        """The closes for which the next `on_candle` is a no-op, or None if it must be called."""
        ...

    @property
    def finished(self) -> bool:
        """True once the strategy has stopped itself (a grid's stop loss or take profit)."""
        ...
