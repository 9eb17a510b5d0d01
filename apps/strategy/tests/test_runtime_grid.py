"""Grid runtime: the ladder, its counter-orders, trailing and the stop (hand-computed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.core.domain import OrderStatus, OrderType, Side, SymbolFilters
from apps.core.errors import ValidationFailed
from apps.strategy.configs import GridConfig, GridSpacing
from apps.strategy.runtime import (
    CancelIntent,
    FillReport,
    OrderUpdate,
    PlaceIntent,
    QuietBand,
    build_runtime,
)
from apps.strategy.runtime.grid import GridLevels, GridRuntime
from apps.strategy.runtime.harness import Replay, candle

D = Decimal
FILTERS = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.0001"),
    min_notional=D("5"),
)
AT = datetime(2024, 1, 1, tzinfo=UTC)


BASE = GridConfig(
    lower_price=D(90),
    upper_price=D(110),
    levels=5,
    spacing=GridSpacing.ARITHMETIC,
    quantity_per_level=D("0.1"),
)


def grid(**overrides: Any) -> GridConfig:
    return replace(BASE, **overrides)


def runtime(cfg: GridConfig) -> GridRuntime:
    built = build_runtime(strategy_id=8, kind="GRID", config=cfg, filters=FILTERS)
    assert isinstance(built, GridRuntime)
    return built


def places(intents) -> list[tuple]:
    return [(i.side, i.order_type, i.quantity, i.price, i.tag) for i in intents if isinstance(i, PlaceIntent)]


def test_ladder_and_counter_orders() -> None:
    """Levels 90/95/100/105/110; price 101: 100 is nearest and stays empty; buys at 90, 95;
    sells at 105, 110 from a 0.2 MARKET buy. Buy at i filled -> sell at i+1; sell at i
    filled -> buy at i-1."""
    replay = Replay(runtime(grid()), FILTERS, {"USDT": D(1000)}, check_quiet=True)
    replay.step(candle(0, 101, 101, 101, 101))
    assert places(replay.intents) == [
        (Side.BUY, OrderType.MARKET, D("0.2000"), None, "grid:init"),
        (Side.BUY, OrderType.LIMIT, D("0.1000"), D("90.00"), "grid:buy:0"),
        (Side.BUY, OrderType.LIMIT, D("0.1000"), D("95.00"), "grid:buy:1"),
        (Side.SELL, OrderType.LIMIT, D("0.1000"), D("105.00"), "grid:sell:3"),
        (Side.SELL, OrderType.LIMIT, D("0.1000"), D("110.00"), "grid:sell:4"),
    ]
    replay.step(candle(1, 101, 101, 94, 96))  # buy 95 fills -> sell at 100
    assert places(replay.intents)[5:] == [
        (Side.SELL, OrderType.LIMIT, D("0.1000"), D("100.00"), "grid:sell:2")
    ]
    replay.step(candle(2, 96, "100.5", 96, 99))  # sell 100 fills -> buy at 95
    assert places(replay.intents)[6:] == [(Side.BUY, OrderType.LIMIT, D("0.1000"), D("95.00"), "grid:buy:1")]
    replay.step(candle(3, 99, 106, 99, 104))  # sell 105 fills -> buy at 100
    assert places(replay.intents)[7:] == [(Side.BUY, OrderType.LIMIT, D("0.1000"), D("100.00"), "grid:buy:2")]

    state = replay.runtime.snapshot()
    # Bought 0.2 @ 101 + 0.1 @ 95 + nothing else; sold 0.1 @ 100 + 0.1 @ 105.
    assert D(state["bought_quote"]) == D("29.7")
    assert D(state["sold_quote"]) == D("20.5")
    assert D(state["inventory"]) == D("0.1")
    resting = sorted((o["side"], D(o["price"])) for o in state["orders"])
    assert resting == [("BUY", D("90.00")), ("BUY", D("95.00")), ("BUY", D("100.00")), ("SELL", D("110.00"))]
    # Cash: 1000 - 29.7 + 20.5; the one round trip 95 -> 100 earned 0.5 USDT.
    balance = replay.engine.balances(replay.account)["USDT"]
    assert balance.free + balance.locked == D("990.8")


def test_trailing_up_moves_the_grid_one_level() -> None:
    replay = Replay(runtime(grid(trailing_up=True)), FILTERS, {"USDT": D(1000)}, check_quiet=True)
    replay.run(
        [
            candle(0, 101, 101, 101, 101),
            candle(1, 101, 106, 101, 106),  # sell 105 fills -> buy 100
            candle(2, 106, 111, 106, "110.5"),  # sell 110 fills -> buy 105; close above the top
        ]
    )
    rt = replay.runtime
    assert isinstance(rt, GridRuntime)
    assert rt.lo == 1  # window is now 95..115
    tail = replay.intents[-2:]
    assert tail[0] == CancelIntent("s8-2", "grid:shift:0")  # the buy at 90 goes
    assert places(tail) == [(Side.BUY, OrderType.LIMIT, D("0.1000"), D("110.00"), "grid:buy:4")]
    assert rt.quiet_band() == QuietBand(None, D("115.00"))
    assert rt.levels.price(5) == D("115.00")


def test_stop_loss_cancels_everything_and_sells_the_base() -> None:
    replay = Replay(runtime(grid(stop_loss_price=D(85))), FILTERS, {"USDT": D(1000)}, check_quiet=True)
    replay.run([candle(0, 101, 101, 101, 101), candle(1, 101, 101, 84, 84)])
    rt = replay.runtime
    assert rt.finished
    # Buys at 95 and 90 filled (-> sells at 100 and 95); all canceled; 0.4 BTC sold at 84.
    assert places(replay.intents)[-1] == (Side.SELL, OrderType.MARKET, D("0.4000"), None, "grid:stop_loss")
    assert D(rt.snapshot()["inventory"]) == 0
    assert rt.quiet_band() == QuietBand(None, None)
    assert rt.on_candle(candle(2, 84, 120, 80, 120)) == []


def test_partial_buy_fill_sells_what_was_received() -> None:
    rt = runtime(grid())
    rt.on_candle(candle(0, 101, 101, 101, 101))
    rt.on_fill(FillReport("s8-1", Side.BUY, D(101), D("0.2"), D("0.0002"), "BTC", AT))
    # 0.1998 BTC received: each initial sell carries half of it, snapped down to the step.
    sells = [o for o in rt.orders.values() if o.role == "sell"]
    assert [(o.price, o.quantity) for o in sells] == [(D("105.00"), D("0.0999")), (D("110.00"), D("0.0999"))]
    rt.on_fill(FillReport("s8-3", Side.BUY, D(95), D("0.06"), D("0.00006"), "BTC", AT))
    out = rt.on_order_update(OrderUpdate("s8-3", OrderStatus.CANCELED))
    assert places(out) == [(Side.SELL, OrderType.LIMIT, D("0.0599"), D("100.00"), "grid:sell:2")]


def test_geometric_levels_and_total_investment() -> None:
    levels = GridLevels(
        grid(
            lower_price=D(100),
            upper_price=D(400),
            levels=3,
            spacing=GridSpacing.GEOMETRIC,
            quantity_per_level=None,
            total_investment_quote=D(300),
        ),
        FILTERS,
    )
    assert [levels.price(j) for j in range(-1, 4)] == [D(50), D(100), D(200), D(400), D(800)]
    assert levels.quantity == D(1)  # 300 / (100 + 200)


def test_levels_that_collapse_at_the_tick_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        runtime(grid(lower_price=D("100"), upper_price=D("100.02"), levels=5))
