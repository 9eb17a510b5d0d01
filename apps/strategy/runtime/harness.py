"""A deterministic driver: one runtime trading against `apps.exchange.matching.MatchingEngine`
over a list of candles. Used by the runtime's tests and usable for parity checks; it is the
smallest faithful loop (not the backtester, which adds fees, slippage and results).

Per candle: the engine replays the candle (open -> low/high -> close, filling resting
orders); every report of the strategy's orders goes to the runtime in engine order, and the
intents each call returns are applied at once (MARKET orders trade at the engine's current
price); then `on_candle(bar)` runs and its intents are applied at the close the same way.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.core.domain import OrderStatus, OrderType, SymbolFilters, TimeInForce
from apps.exchange.matching import (
    EngineError,
    ExecutionReport,
    ExecutionType,
    FeeSchedule,
    MatchingEngine,
    VenueOrderStatus,
)

from .swing import epoch_ms
from .types import CancelIntent, CandleBar, FillReport, Intent, OrderUpdate, PlaceIntent, StrategyRuntime

Report = FillReport | OrderUpdate
Rebuild = Callable[[dict, list[CandleBar]], StrategyRuntime]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def candle(
    index: int, open_: object, high: object, low: object, close: object, *, minutes: int = 60
) -> CandleBar:
    """The `index`-th candle of a series starting 2024-01-01 UTC (values as str/int/Decimal)."""
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes * index)
    return CandleBar(
        open_time=start,
        close_time=start + timedelta(minutes=minutes) - timedelta(milliseconds=1),
        open=Decimal(str(open_)),
        high=Decimal(str(high)),
        low=Decimal(str(low)),
        close=Decimal(str(close)),
        volume=Decimal(1),
    )


def ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def reports_of(event: object, account: str) -> list[Report]:
    """The runtime-facing reports in one engine event (fills first, then a FILLED status)."""
    if not isinstance(event, ExecutionReport) or event.account != account:
        return []
    order = event.order
    if event.execution_type == ExecutionType.TRADE and event.trade is not None:
        trade = event.trade
        out: list[Report] = [
            FillReport(
                client_order_id=order.client_order_id,
                side=trade.side,
                price=trade.price,
                quantity=trade.quantity,
                commission=trade.commission,
                commission_asset=trade.commission_asset,
                executed_at=ms_to_datetime(trade.time_ms),
            )
        ]
        if order.status == VenueOrderStatus.FILLED:
            out.append(OrderUpdate(order.client_order_id, OrderStatus.FILLED))
        return out
    statuses = {
        ExecutionType.CANCELED: OrderStatus.CANCELED,
        ExecutionType.EXPIRED: OrderStatus.EXPIRED,
        ExecutionType.REJECTED: OrderStatus.REJECTED,
    }
    status = statuses.get(event.execution_type)
    if status is None:
        return []
    return [OrderUpdate(event.orig_client_order_id or order.client_order_id, status)]


@dataclass
class Replay:
    """Drive `runtime` over candles against a fresh MatchingEngine account."""

    runtime: StrategyRuntime
    filters: SymbolFilters
    balances: Mapping[str, Decimal]
    fees: FeeSchedule = field(default_factory=lambda: FeeSchedule(maker=Decimal(0), taker=Decimal(0)))
    liquidity_per_tick: Decimal | None = None
    #: If set, the runtime is rebuilt from a JSON round trip of its snapshot after every call.
    rebuild: Rebuild | None = None
    #: Check the QuietBand promise on every candle (raises RuntimeError when broken).
    check_quiet: bool = False
    account: str = "strategy"
    log: list[Intent | Report | CandleBar] = field(default_factory=list)
    #: (client order id, Binance error code, message) of every placement the engine refused.
    rejections: list[tuple[str, int, str]] = field(default_factory=list)
    bars: list[CandleBar] = field(default_factory=list)
    quiet_candles: int = 0

    def __post_init__(self) -> None:
        self.engine = MatchingEngine(fees=self.fees)
        self.engine.add_symbol(self.filters, liquidity_per_tick=self.liquidity_per_tick)
        self.engine.open_account(self.account, self.balances)
        self._queue: deque[Report] = deque()

    @property
    def intents(self) -> list[Intent]:
        return [e for e in self.log if isinstance(e, PlaceIntent | CancelIntent)]

    @property
    def fills(self) -> list[FillReport]:
        return [e for e in self.log if isinstance(e, FillReport)]

    def run(self, bars: Iterable[CandleBar]) -> Replay:
        for bar in bars:
            self.step(bar)
        return self

    def step(self, bar: CandleBar) -> None:
        self.bars.append(bar)
        now = epoch_ms(bar.close_time)
        events = self.engine.on_candle(
            self.filters.symbol, bar.open, bar.high, bar.low, bar.close, now_ms=now
        )
        self._enqueue(events)
        self._drain()
        self.log.append(bar)
        band = self.runtime.quiet_band()
        before = self.runtime.snapshot() if self.check_quiet and band is not None else None
        intents = self.runtime.on_candle(bar)
        if band is not None and band.contains(bar.close):
            self.quiet_candles += 1
            if before is not None and (intents or self.runtime.snapshot() != before):
                raise RuntimeError(f"on_candle was not a no-op inside {band} at close {bar.close}")
        self._after_call()
        self._apply(intents)
        self._drain()

    # -- plumbing -----------------------------------------------------------------------

    def _drain(self) -> None:
        while self._queue:
            report = self._queue.popleft()
            self.log.append(report)
            if isinstance(report, FillReport):
                intents = self.runtime.on_fill(report)
            else:
                intents = self.runtime.on_order_update(report)
            self._after_call()
            self._apply(intents)

    def _after_call(self) -> None:
        if self.rebuild is not None:
            state = json.loads(json.dumps(self.runtime.snapshot()))
            self.runtime = self.rebuild(state, list(self.bars))

    def _apply(self, intents: list[Intent]) -> None:
        for intent in intents:
            self.log.append(intent)
            if isinstance(intent, PlaceIntent):
                self._place(intent)
            else:
                self._cancel(intent)

    def _place(self, intent: PlaceIntent) -> None:
        try:
            placement = self.engine.place_order(
                self.account,
                symbol=self.filters.symbol,
                side=intent.side,
                order_type=intent.order_type,
                client_order_id=intent.client_order_id,
                quantity=intent.quantity,
                price=intent.price,
                time_in_force=TimeInForce.GTC if intent.order_type == OrderType.LIMIT else None,
            )
        except EngineError as exc:
            self.rejections.append((intent.client_order_id, exc.code, exc.message))
            self._queue.append(OrderUpdate(intent.client_order_id, OrderStatus.REJECTED))
            return
        self._enqueue(placement.events)

    def _cancel(self, intent: CancelIntent) -> None:
        try:
            cancellation = self.engine.cancel_order(
                self.account, symbol=self.filters.symbol, client_order_id=intent.client_order_id
            )
        except EngineError:
            return  # already final (filled): its fills were or will be reported
        self._enqueue(cancellation.events)

    def _enqueue(self, events: Iterable[object]) -> None:
        for event in events:
            self._queue.extend(reports_of(event, self.account))
