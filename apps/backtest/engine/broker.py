"""The simulated broker: a strategy runtime's intents executed by the exchange's matching engine.

This is the same `apps.exchange.matching.MatchingEngine` that fills orders in the local
Binance simulator, so fills, fees, balance locks and filter checks in a backtest are computed
by exactly the code of the simulated live path. The broker only translates:
intents -> `place_order` / `cancel_order`, trades -> `FillReport`, refusals and cancels ->
`OrderUpdate`, and feeds everything back to the runtime at once, the way the live engine's
fill stream would. Whatever the runtime answers is executed immediately, at the current price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.candles import intervals
from apps.core.domain import OrderStatus, OrderType, Side, SymbolFilters, TimeInForce
from apps.exchange.matching import (
    EngineError,
    Event,
    ExecutionReport,
    ExecutionType,
    FeeSchedule,
    MatchingEngine,
    Trade,
    VenueOrderStatus,
)
from apps.strategy.runtime.types import (
    CancelIntent,
    FillReport,
    Intent,
    OrderUpdate,
    PlaceIntent,
    StrategyRuntime,
)

ACCOUNT = "backtest"
ZERO = Decimal(0)
#: More intents than this from one event means a runtime loop, not a strategy.
MAX_CASCADE = 10_000


class RuntimeLoop(RuntimeError):
    """The runtime kept answering intents with more intents (a bug in the strategy code)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An intent the venue refused: recorded as an order without a venue number."""

    intent: PlaceIntent
    time_ms: int
    reason: str


class SimulatedBroker:
    """One account on one symbol of a private matching engine, driven by one runtime."""

    def __init__(
        self,
        *,
        runtime: StrategyRuntime,
        filters: SymbolFilters,
        fees: FeeSchedule,
        slippage_bps: Decimal,
        initial_quote: Decimal,
    ) -> None:
        self.runtime = runtime
        self.filters = filters
        self.symbol = filters.symbol
        self.engine = MatchingEngine(fees=fees, slippage_bps=slippage_bps)
        self.engine.add_symbol(filters)
        self.engine.open_account(ACCOUNT, {filters.quote_asset: initial_quote})
        self.tags: dict[str, str] = {}
        self.rejections: list[Rejection] = []
        self.now_ms = 0
        #: Fills so far: balances (free + locked) change only when this does.
        self.fill_count = 0
        # Reach of the resting orders: a price <= buy_max fills some buy, >= sell_min some sell.
        self.buy_max: Decimal | None = None
        self.sell_min: Decimal | None = None

    # -- the market ----------------------------------------------------------------------

    def tick(self, price: Decimal, now_ms: int) -> None:
        """Move the market to `price`; fills what it reaches and lets the runtime react."""
        self.now_ms = now_ms
        events = self.engine.on_price(self.symbol, price, now_ms=now_ms)
        self._react(events)

    def reaches(self, price: Decimal) -> bool:
        """Whether a tick at `price` would fill a resting order (else the tick can be skipped)."""
        return (self.buy_max is not None and price <= self.buy_max) or (
            self.sell_min is not None and price >= self.sell_min
        )

    def execute(self, intents: Iterable[Intent], now_ms: int) -> None:
        """Send intents at the current price, and whatever the runtime answers, until quiet."""
        self.now_ms = now_ms
        queue: deque[Intent] = deque(intents)
        done = 0
        while queue:
            done += 1
            if done > MAX_CASCADE:
                raise RuntimeLoop(f"more than {MAX_CASCADE} intents from one event")
            intent = queue.popleft()
            if isinstance(intent, PlaceIntent):
                queue.extend(self._place(intent))
            elif isinstance(intent, CancelIntent):
                queue.extend(self._cancel(intent))
        self._refresh_reach()

    # -- reads ---------------------------------------------------------------------------

    def totals(self) -> tuple[Decimal, Decimal]:
        """(base, quote) held, free plus locked."""
        balances = self.engine.balances(ACCOUNT)
        base = balances.get(self.filters.base_asset)
        quote = balances.get(self.filters.quote_asset)
        return (
            (base.free + base.locked) if base else ZERO,
            (quote.free + quote.locked) if quote else ZERO,
        )

    def has_open_orders(self) -> bool:
        return self.buy_max is not None or self.sell_min is not None

    def trades(self) -> list[Trade]:
        return self.engine.trades(ACCOUNT, self.symbol)

    # -- internals -----------------------------------------------------------------------

    def _place(self, intent: PlaceIntent) -> list[Intent]:
        self.tags[intent.client_order_id] = intent.tag
        is_limit = intent.order_type != OrderType.MARKET
        try:
            placement = self.engine.place_order(
                ACCOUNT,
                symbol=self.symbol,
                side=Side(intent.side),
                order_type=OrderType(intent.order_type),
                client_order_id=intent.client_order_id,
                quantity=intent.quantity,
                price=intent.price if is_limit else None,
                time_in_force=TimeInForce.GTC if intent.order_type == OrderType.LIMIT else None,
                now_ms=self.now_ms,
            )
        except EngineError as exc:
            self.rejections.append(Rejection(intent, self.now_ms, f"{exc.code}: {exc.message}"))
            return self.runtime.on_order_update(OrderUpdate(intent.client_order_id, OrderStatus.REJECTED))
        return self._react(placement.events, refresh=False)

    def _cancel(self, intent: CancelIntent) -> list[Intent]:
        try:
            cancellation = self.engine.cancel_order(
                ACCOUNT, symbol=self.symbol, client_order_id=intent.client_order_id, now_ms=self.now_ms
            )
        except EngineError:
            # Already filled (the runtime has the fills) or refused earlier: nothing to cancel.
            return []
        return self._react(cancellation.events, refresh=False)

    def _react(self, events: list[Event] | tuple[Event, ...], *, refresh: bool = True) -> list[Intent]:
        """Feed fills and final statuses to the runtime; execute (or return) its answers."""
        answers: list[Intent] = []
        for event in events:
            if not isinstance(event, ExecutionReport):
                continue
            answers.extend(self._report(event))
        if refresh:
            self.execute(answers, self.now_ms)
            return []
        return answers

    def _report(self, event: ExecutionReport) -> list[Intent]:
        order = event.order
        if event.execution_type == ExecutionType.TRADE and event.trade is not None:
            self.fill_count += 1
            return self.runtime.on_fill(_fill_report(event.trade))
        if event.execution_type == ExecutionType.CANCELED:
            return self.runtime.on_order_update(OrderUpdate(order.client_order_id, OrderStatus.CANCELED))
        if event.execution_type == ExecutionType.EXPIRED or order.status == VenueOrderStatus.EXPIRED:
            return self.runtime.on_order_update(OrderUpdate(order.client_order_id, OrderStatus.EXPIRED))
        return []

    def _refresh_reach(self) -> None:
        resting = self.engine.open_orders(ACCOUNT)
        buys = [o.price for o in resting if o.side == Side.BUY and o.price is not None]
        sells = [o.price for o in resting if o.side == Side.SELL and o.price is not None]
        self.buy_max = max(buys) if buys else None
        self.sell_min = min(sells) if sells else None


def _fill_report(trade: Trade) -> FillReport:
    return FillReport(
        client_order_id=trade.client_order_id,
        side=trade.side,
        price=trade.price,
        quantity=trade.quantity,
        commission=trade.commission,
        commission_asset=trade.commission_asset,
        executed_at=_moment(trade.time_ms),
    )


def _moment(ms: int) -> datetime:
    return intervals.from_ms(ms)
