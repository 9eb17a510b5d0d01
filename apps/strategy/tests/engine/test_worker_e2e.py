"""Acceptance, end to end: a real Celery worker (every queue), a real beat and the real
user-data stream process, against the simulator on loopback. The test replays candles: it
moves the simulator's market along each candle, waits until the books have settled (every
simulator trade booked once, every order acknowledged, every fill given to its strategy),
then stores the candle and waits until the engine has stepped past it.

Grid (BTCUSDT), DCA (ETHUSDT) and Swing (BNBUSDT) run side by side on one account; the
results are checked against hand computations. A second test kills the worker again and again
mid-run and expects exactly the same orders and books."""

from __future__ import annotations

import functools
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from apps.candles.domain import CandleData
from apps.candles.intervals import to_ms
from apps.candles.services import upsert_candles
from apps.core.domain import SymbolFilters
from apps.exchange.services import upsert_instrument
from apps.exchange.simulator.server import SimulatorServer
from apps.execution.models import ExchangeAccount, Fill, Order, OutboxEvent
from apps.execution.tests.live import API_KEY
from apps.portfolio.models import Position
from apps.strategy.engine.dispatch import is_due
from apps.strategy.models import Strategy
from apps.strategy.services.lifecycle import start_strategy
from apps.strategy.tests.factories import grid_config

from .stack import Stack
from .support import GRID_REALIZED, D, bar, path
from .support import running_strategy as draft_then_running


def usdt(base: str, step: str) -> SymbolFilters:
    return SymbolFilters(
        symbol=f"{base}USDT", base_asset=base, quote_asset="USDT", tick_size=D("0.01"),
        step_size=D(step), min_qty=D(step), max_qty=D("9000"), min_notional=D("5"),
    )  # fmt: skip


ETHUSDT, BNBUSDT = usdt("ETH", "0.0001"), usdt("BNB", "0.001")

GRID = grid_config(lower_price="29000", upper_price="31000", levels=5, quantity_per_level="0.001")
DCA = {
    "base_order_quote": "100", "safety_order_quote": "100", "max_safety_orders": 3,
    "max_active_safety_orders": 1, "price_deviation_pct": "1", "step_scale": "2", "volume_scale": "2",
    "take_profit": [{"pct": "1.5", "close_fraction": "1"}], "cooldown_bars": 1,
}  # fmt: skip
SWING = {"entry": "close > sma(close, 3)", "exit": "close < sma(close, 3)", "sizing_mode": "quote",
         "sizing_value": "100"}  # fmt: skip

GRID_BARS = [
    bar(0, "30000", "30000", "30000", "30000"),
    bar(1, "30000", "30000", "29400", "29600"),
    bar(2, "29600", "30600", "29600", "30550"),
]
DCA_BARS = [
    bar(0, "2000", "2000", "2000", "2000"),
    bar(1, "2000", "2000", "1975", "1985"),  # SO1 at 1,980 fills
    bar(2, "1985", "1985", "1935", "1945"),  # SO2 at 1,940 fills
    bar(3, "1945", "2000", "1945", "1998"),  # the take-profit fills, SO3 is canceled
]
SWING_WARMUP = [bar(i - 3, "300", "300", "300", "300") for i in range(3)]
SWING_BARS = [
    bar(0, "300", "310", "300", "310"),  # close above SMA(3) = 303.33: buy 100 USDT at market
    bar(1, "310", "311", "310", "311"),
    bar(2, "311", "311", "290", "290"),  # close below SMA(3) = 303.67: sell the position
]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(600)]


def unsettled(account: ExchangeAccount, sim: SimulatorServer, strategies: list[Strategy]) -> str | None:
    """What keeps the books from being settled, or None. Reads the venue's trades, our fills,
    the outbox, then the venue's trades again: a fill booked by the second read has its event
    written with it, so an empty outbox after it means the event was delivered."""
    pending = list(
        Order.objects.filter(account=account, status__in=["NEW", "CANCEL_REQUESTED"]).values_list(
            "client_order_id", "status"
        )
    )
    if pending:
        return f"orders not settled: {pending}"
    ledger = sorted(int(t["id"]) for t in sim.trades(API_KEY))  # type: ignore[call-overload]
    booked = sorted(Fill.objects.filter(account=account).values_list("exchange_fill_id", flat=True))
    if booked != ledger:
        missing, unknown = sorted(set(ledger) - set(booked)), sorted(set(booked) - set(ledger))
        return f"venue trades not booked: {missing}, fills the venue does not have: {unknown}"
    undelivered = list(
        OutboxEvent.objects.filter(published_at__isnull=True).values_list(
            "pk", "event_type", "attempts", "last_error"
        )
    )
    if undelivered:
        return f"outbox events not delivered: {undelivered}"
    if sorted(int(t["id"]) for t in sim.trades(API_KEY)) != ledger:  # type: ignore[call-overload]
        return "the venue traded meanwhile"
    now = timezone.now()
    due = [s.name for s in strategies if is_due(Strategy.objects.get(pk=s.pk), now)]
    return f"strategies due: {due}" if due else None


def stepped_past(strategy: Strategy, candle: CandleData) -> bool:
    return Strategy.objects.get(pk=strategy.pk).state.get("last_candle") == to_ms(candle.open_time)


def replay(
    stack: Stack, sim: SimulatorServer, account: ExchangeAccount, series: dict[Strategy, list[CandleData]],
    chaos: bool = False,
) -> None:  # fmt: skip
    strategies = list(series)
    # A send lost with a killed worker after it claimed the order waits for that claim's lease
    # (30 s) to run out before reconciliation's re-send can go: more than the happy path needs.
    patience = 120 if chaos else 60
    settled = functools.partial(unsettled, account, sim, strategies)
    for i in range(max(len(bars) for bars in series.values())):
        for strategy, bars in series.items():
            if i < len(bars):
                for price in path(bars[i]):
                    sim.set_price(strategy.symbol, price)
        if chaos:
            stack.kill("worker")  # killed while the fills of this candle are being processed
            stack.start("worker")
        stack.wait_clear(settled, patience, f"books settled before candle {i}")
        for strategy, bars in series.items():
            if i < len(bars):
                upsert_candles(symbol=strategy.symbol, interval="1m", candles=[bars[i]])
        if chaos:
            stack.kill("worker")  # killed while the candle's steps run
            stack.start("worker")
        for strategy, bars in series.items():
            if i < len(bars):
                what = f"{strategy.name} past candle {i}"
                stack.wait(functools.partial(stepped_past, strategy, bars[i]), patience, what)
        stack.wait_clear(settled, patience, f"books settled after candle {i}")


def started(account: ExchangeAccount, kind: str, symbol: str, config: dict, first: CandleData) -> Strategy:
    strategy = draft_then_running(account, kind, config, name=f"{kind.lower()}-{symbol}")
    Strategy.objects.filter(pk=strategy.pk).update(status="DRAFT", symbol=symbol)
    start_strategy(strategy_id=strategy.pk, actor="test", now=first.close_time + timedelta(seconds=1))
    return Strategy.objects.get(pk=strategy.pk)


def grid_and_its_books(account: ExchangeAccount) -> tuple[list[tuple], Position]:
    orders = [
        (o.side, o.order_type, o.price, o.quantity, o.status)
        for o in Order.objects.filter(account=account, symbol="BTCUSDT").order_by("client_order_id")
    ]
    return orders, Position.objects.get(account=account, symbol="BTCUSDT")


def assert_grid_books(account: ExchangeAccount) -> None:
    orders, position = grid_and_its_books(account)
    assert sorted((side, kind, price, qty) for side, kind, price, qty, _ in orders) == sorted([
        ("BUY", "MARKET", None, D("0.002")),
        ("BUY", "LIMIT", D("29000"), D("0.001")),
        ("BUY", "LIMIT", D("29500"), D("0.001")),
        ("SELL", "LIMIT", D("30000"), D("0.00099")),
        ("SELL", "LIMIT", D("30500"), D("0.00099")),
        ("SELL", "LIMIT", D("31000"), D("0.00099")),
        ("BUY", "LIMIT", D("29500"), D("0.001")),
        ("BUY", "LIMIT", D("30000"), D("0.001")),
    ])  # fmt: skip
    assert position.quantity == D("0.00102") - D("0.003") * D("0.001")  # less the buys' BTC fees
    assert abs(position.realized_pnl - GRID_REALIZED) < D("1e-12")
    assert position.fees_paid == D("0.149395")


def assert_each_order_once(account: ExchangeAccount, sim: SimulatorServer) -> None:
    ours = sorted(Order.objects.filter(account=account).values_list("client_order_id", flat=True))
    assert len(ours) == len(set(ours))
    symbols = set(Order.objects.filter(account=account).values_list("symbol", flat=True))
    theirs = sorted(o.client_order_id for s in symbols for o in sim.exchange.all_orders(API_KEY, s))
    assert theirs == ours  # every order reached the exchange exactly once, none was invented


def test_grid_dca_and_swing_trade_end_to_end_through_worker_beat_and_stream(
    sim: SimulatorServer, account: ExchangeAccount, tmp_path: Path, stream_connected
) -> None:
    sim.add_symbol(ETHUSDT, price=Decimal("2000"))
    sim.add_symbol(BNBUSDT, price=Decimal("300"))
    for filters in (ETHUSDT, BNBUSDT):
        upsert_instrument(exchange="binance", filters=filters)
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=GRID_BARS[:1])
    upsert_candles(symbol="ETHUSDT", interval="1m", candles=DCA_BARS[:1])
    upsert_candles(symbol="BNBUSDT", interval="1m", candles=SWING_WARMUP)
    stack = Stack(sim, tmp_path)
    for name in ("worker", "beat", "stream"):
        stack.start(name)
    try:
        grid = started(account, "GRID", "BTCUSDT", GRID, GRID_BARS[0])
        dca = started(account, "DCA", "ETHUSDT", DCA, DCA_BARS[0])
        swing = started(account, "SWING", "BNBUSDT", SWING, SWING_WARMUP[-1])
        replay(stack, sim, account, {grid: GRID_BARS, dca: DCA_BARS, swing: SWING_BARS})
    finally:
        stack.stop()

    assert_grid_books(account)
    assert_each_order_once(account, sim)

    # DCA: base 100 USDT at 2,000 = 0.05 ETH; SO1 100 USDT at 1,980 = 0.0505; SO2 200 USDT at
    # 1,940 = 0.1030 (quantities snapped down to 0.0001); SO3 400 USDT rests at 1,860 until the
    # take-profit sells the position (net of the 0.1 % ETH fees) and the deal cancels it.
    dca_orders = list(Order.objects.filter(account=account, symbol="ETHUSDT").order_by("pk"))
    buys = [(o.order_type, o.price, o.quantity, o.status) for o in dca_orders if o.side == "BUY"]
    assert buys == [
        ("MARKET", None, D("0.05"), "FILLED"),
        ("LIMIT", D("1980"), D("0.0505"), "FILLED"),
        ("LIMIT", D("1940"), D("0.1030"), "FILLED"),
        ("LIMIT", D("1860"), D("0.2150"), "CANCELED"),
    ]
    take_profit = [o for o in dca_orders if o.side == "SELL" and o.status == "FILLED"]
    assert len(take_profit) == 1
    bought = D("0.05") + D("0.0505") + D("0.1030")
    assert take_profit[0].quantity == D("0.2032")  # 0.2035 less 0.1 % fees, snapped down
    average = (D("0.05") * 2000 + D("0.0505") * 1980 + D("0.1030") * 1940) / bought
    assert take_profit[0].price == (average * D("1.015")).quantize(D("0.01"), rounding="ROUND_UP")
    eth = Position.objects.get(account=account, symbol="ETHUSDT")
    assert eth.quantity == bought - bought * D("0.001") - D("0.2032")  # the buys' fees were paid in ETH

    # Swing: in at 310 with 100 USDT (0.322 BNB), out at 290 with what is left after the fee.
    swing_orders = [(o.side, o.order_type, o.quantity, o.status) for o in
                    Order.objects.filter(account=account, symbol="BNBUSDT").order_by("pk")]  # fmt: skip
    assert swing_orders == [("BUY", "MARKET", D("0.322"), "FILLED"), ("SELL", "MARKET", D("0.321"), "FILLED")]
    bnb = Position.objects.get(account=account, symbol="BNBUSDT")
    assert bnb.realized_pnl == (D("290") - D("310")) * D("0.321")


def test_the_worker_killed_again_and_again_mid_run_duplicates_and_misses_nothing(
    sim: SimulatorServer, account: ExchangeAccount, tmp_path: Path, stream_connected
) -> None:
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=GRID_BARS[:1])
    # A SIGKILLed worker takes the tasks it had fetched with it: with acks_late on Redis they
    # come back only after the visibility timeout (an hour). A lost send leaves its order NEW,
    # and reconciliation is what re-sends it (past RECONCILE_NEW_GRACE_SECONDS, looking the
    # order up on the venue first), so it runs here, as in production but every 3 s.
    stack = Stack(sim, tmp_path, reconcile_every=3)
    for name in ("worker", "beat", "stream"):
        stack.start(name)
    try:
        grid = started(account, "GRID", "BTCUSDT", GRID, GRID_BARS[0])
        replay(stack, sim, account, {grid: GRID_BARS}, chaos=True)
    finally:
        stack.stop()
    assert stack.starts["worker"] >= 5
    assert_grid_books(account)
    assert_each_order_once(account, sim)
