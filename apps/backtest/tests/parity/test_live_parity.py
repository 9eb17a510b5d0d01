"""Acceptance (issue 10): the same candles replayed through the live engine against the
simulator give the same orders and fills as the backtest — for Grid, DCA and a Swing rule.

Live: the engine's steps (in-process, Celery eager) against the project's simulator, whose
market the test moves along each candle's path (apps/strategy/tests/engine/support.py).
Backtest: `apps.backtest.engine.runner.simulate` on the same candles, fees and filters.
Compared: each order's side, type, price and quantity in placement order (client order ids
differ only in their strategy prefix) and each fill's order, price, quantity and commission.
The candles are contiguous (each opens at the previous close), so the backtest's next-open
execution and the live engine's execution at the close are the same price.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.backtest.engine.runner import BacktestSpec, simulate
from apps.candles.domain import CandleArrays, CandleData
from apps.candles.intervals import to_ms
from apps.candles.services import upsert_candles
from apps.exchange.matching import FeeSchedule
from apps.exchange.services import upsert_instrument
from apps.exchange.simulator.server import SimulatorServer
from apps.execution.models import ExchangeAccount, Fill, Order
from apps.execution.services import reconcile_account, register_consumer
from apps.execution.services.outbox import unregister_consumer
from apps.execution.tests.factories import BTCUSDT
from apps.strategy.configs import StrategyKind, parse_config
from apps.strategy.engine.dispatch import on_fill_recorded
from apps.strategy.engine.step import run_strategy_step
from apps.strategy.models import Strategy
from apps.strategy.tests.engine.support import bar, close_candle, running_strategy, trade_candle
from apps.strategy.tests.engine.test_worker_e2e import (
    BNBUSDT,
    DCA,
    DCA_BARS,
    ETHUSDT,
    GRID,
    GRID_BARS,
    SWING,
    SWING_BARS,
    SWING_WARMUP,
)

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager", "trading_on")]


@pytest.fixture(autouse=True)
def steps_at_candle_time():
    """`settle` plays the fill dispatcher: it steps the strategy after each fill at the
    candle's time. The real dispatcher (the `fill.recorded` consumer) would step it at the wall
    clock — with Celery eager, inside the relay — months after these candles, where a cooldown
    counted in bars has long passed."""
    unregister_consumer(event_type="fill.recorded", name="strategy-engine")
    yield
    register_consumer(event_type="fill.recorded", name="strategy-engine", handler=on_fill_recorded)


def arrays(bars: list[CandleData]) -> CandleArrays:
    def column(name: str) -> np.ndarray:
        return np.array([float(getattr(b, name)) for b in bars], dtype=np.float64)

    return CandleArrays(
        open_time=np.array([to_ms(b.open_time) for b in bars], dtype=np.int64),
        open=column("open"), high=column("high"), low=column("low"), close=column("close"),
        volume=column("volume"),
    )  # fmt: skip


def flat_after(bars: list[CandleData]) -> list[CandleData]:
    """One more flat candle at the last close: the backtest executes the last candle's
    intents at the next open, the live engine at the close — the same price."""
    last = bars[-1]
    i = (to_ms(last.open_time) - to_ms(bar(0, "1", "1", "1", "1").open_time)) // 60_000 + 1
    c = str(last.close)
    return [*bars, bar(int(i), c, c, c, c)]


Rows = list[tuple]


def live_run(
    sim: SimulatorServer, account: ExchangeAccount, kind: str, config: dict, symbol: str,
    bars: list[CandleData], warmup: list[CandleData],
) -> tuple[Rows, Rows]:  # fmt: skip
    upsert_candles(symbol=symbol, interval="1m", candles=warmup)
    strategy = running_strategy(account, kind, config, name=f"parity-{kind}")
    Strategy.objects.filter(pk=strategy.pk).update(symbol=symbol)
    strategy.refresh_from_db()
    for c in bars:
        trade_candle(sim, account, c, symbol=symbol)
        close_candle(strategy, c)
        settle(strategy, account, c)
    orders = [
        (o.client_order_id.split("-", 1)[1], o.side, o.order_type, o.price, o.quantity)
        for o in Order.objects.filter(strategy_id=strategy.pk).order_by("pk")
    ]
    fills = [
        (f.order.client_order_id.split("-", 1)[1], f.price, f.quantity, f.commission, f.commission_asset)
        for f in Fill.objects.filter(order__strategy_id=strategy.pk).select_related("order").order_by("pk")
    ]
    return orders, fills


def settle(strategy, account: ExchangeAccount, c: CandleData) -> None:
    """What the running system does between candles: fills come back (the stream; here a
    reconciliation) and each one triggers a step, until nothing new happens."""
    for _ in range(20):
        reconcile_account(account_id=account.pk, trigger="test")
        result = run_strategy_step(strategy_id=strategy.pk, now=c.close_time + timedelta(milliseconds=2))
        if not (result.fills or result.updates or result.placed or result.cancels):
            return
    raise AssertionError("the strategy did not settle")


def backtest_run(kind: str, config: dict, filters, bars: list[CandleData]) -> tuple[list[tuple], list[tuple]]:
    spec = BacktestSpec(
        kind=StrategyKind(kind), config=parse_config(StrategyKind(kind), config), filters=filters,
        interval="1m", fees=FeeSchedule(), slippage_bps=D(0), initial_quote=D("1000000"),
    )  # fmt: skip
    outcome = simulate(spec, arrays(bars))
    by_id = {o.order_id: o for o in outcome.orders}
    orders = [
        (o.client_order_id.split("-", 1)[1], o.side, o.order_type, o.price, o.quantity)
        for o in outcome.orders
    ]
    fills = [
        (
            by_id[t.order_id].client_order_id.split("-", 1)[1],
            t.price,
            t.quantity,
            t.commission,
            t.commission_asset,
        )
        for t in outcome.trades
    ]
    return orders, fills


def normalized(rows: list[tuple]) -> list[tuple]:
    return [tuple(v.normalize() if isinstance(v, Decimal) else str(v) for v in row) for row in rows]


@pytest.mark.parametrize(
    ("kind", "config", "filters", "bars", "warmup"),
    [
        ("GRID", GRID, BTCUSDT, GRID_BARS, []),
        ("DCA", DCA, ETHUSDT, DCA_BARS, []),
        ("SWING", SWING, BNBUSDT, SWING_BARS, SWING_WARMUP),
    ],
    ids=["grid", "dca", "swing"],
)
def test_live_engine_and_backtest_make_the_same_orders_and_fills(
    sim: SimulatorServer, account: ExchangeAccount, kind, config, filters, bars, warmup
) -> None:
    if filters.symbol != "BTCUSDT":
        sim.add_symbol(filters, price=bars[0].open)
        upsert_instrument(exchange="binance", filters=filters)
    live_orders, live_fills = live_run(sim, account, kind, config, filters.symbol, flat_after(bars), warmup)
    bt_orders, bt_fills = backtest_run(kind, config, filters, [*warmup, *flat_after(bars)])
    assert live_orders, "the scenario must trade"
    assert normalized(live_orders) == normalized(bt_orders)
    assert normalized(live_fills) == normalized(bt_fills)
