"""DCA runtime: hand-computed deals (prices, quantities, average entry, take-profit price)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.core.domain import OrderStatus, OrderType, Side, SymbolFilters
from apps.core.errors import ValidationFailed
from apps.exchange.matching import FeeSchedule
from apps.strategy.configs import DcaConfig, TakeProfitStep
from apps.strategy.runtime import (
    CancelIntent,
    FillReport,
    OrderUpdate,
    PlaceIntent,
    QuietBand,
    build_runtime,
)
from apps.strategy.runtime.dca import DcaRuntime
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


BASE = DcaConfig(
    base_order_quote=D(100),
    safety_order_quote=D(100),
    max_safety_orders=3,
    max_active_safety_orders=1,
    price_deviation_pct=D(1),
    step_scale=D(2),
    volume_scale=D(2),
    take_profit=(TakeProfitStep(D("1.5"), D(1)),),
    cooldown_bars=1,
)


def config(**overrides: Any) -> DcaConfig:
    return replace(BASE, **overrides)


def runtime(cfg: DcaConfig, strategy_id: str = "7") -> DcaRuntime:
    built = build_runtime(strategy_id=strategy_id, kind="DCA", config=cfg, filters=FILTERS)
    assert isinstance(built, DcaRuntime)
    return built


def fill(cid: str, side: Side, price: str, qty: str, fee: str = "0", asset: str = "BTC") -> FillReport:
    return FillReport(cid, side, D(price), D(qty), D(fee), asset, AT)


def places(intents) -> list[tuple]:
    return [
        (i.client_order_id, i.side, i.order_type, i.quantity, i.price, i.tag)
        for i in intents
        if isinstance(i, PlaceIntent)
    ]


def test_deal_takes_profit_after_two_safety_orders() -> None:
    """Base 100 USDT at 100; SO1 (1 %) 100 USDT at 99.00; SO2 (1+2 = 3 %) 200 USDT at 97.00;
    TP 1.5 % above the average entry, re-placed after each fill; one safety order rests at a
    time, the next is placed when one fills; the TP fill closes the deal and cancels SO3."""
    replay = Replay(runtime(config()), FILTERS, {"USDT": D(10000)}, check_quiet=True)
    replay.run(
        [
            candle(0, 100, 100, 100, 100),  # base MARKET 1.0000 fills at 100
            candle(1, 100, 100, "98.5", 99),  # SO1 1.0101 @ 99.00 fills
            candle(2, 99, 99, "96.5", "97.5"),  # SO2 2.0618 @ 97.00 fills
            candle(3, "97.5", 100, "97.4", "99.8"),  # TP 4.0719 @ 99.71 fills
        ]
    )
    assert places(replay.intents) == [
        ("s7-1", Side.BUY, OrderType.MARKET, D("1.0000"), None, "dca:d1:base"),
        ("s7-2", Side.BUY, OrderType.LIMIT, D("1.0101"), D("99.00"), "dca:d1:so1"),
        # avg 100 -> TP 101.50
        ("s7-3", Side.SELL, OrderType.LIMIT, D("1.0000"), D("101.50"), "dca:d1:tp1"),
        ("s7-4", Side.BUY, OrderType.LIMIT, D("2.0618"), D("97.00"), "dca:d1:so2"),
        # avg (100 + 99.99990) / 2.0101 = 99.49748..., x 1.015 = 100.98994... -> up to 100.99
        ("s7-5", Side.SELL, OrderType.LIMIT, D("2.0101"), D("100.99"), "dca:d1:tp1"),
        ("s7-6", Side.BUY, OrderType.LIMIT, D("4.3010"), D("93.00"), "dca:d1:so3"),
        # avg 399.9945 / 4.0719 = 98.23288..., x 1.015 = 99.70638... -> 99.71
        ("s7-7", Side.SELL, OrderType.LIMIT, D("4.0719"), D("99.71"), "dca:d1:tp1"),
    ]
    cancels = [i for i in replay.intents if isinstance(i, CancelIntent)]
    assert [c.client_order_id for c in cancels] == ["s7-3", "s7-5", "s7-6"]
    # A TP is re-placed only after the old one is confirmed canceled.
    log_ids = [(type(e).__name__, getattr(e, "client_order_id", None)) for e in replay.log]
    assert log_ids.index(("OrderUpdate", "s7-3")) < log_ids.index(("PlaceIntent", "s7-5"))

    state = replay.runtime.snapshot()
    assert state["phase"] == "idle"
    assert state["cooldown_left"] == 0  # the closing candle was the one cooldown candle
    assert state["deals_closed"] == 1
    last = state["last_deal"]
    assert last["exit_reason"] == "take_profit"
    assert D(last["bought_qty"]) == D("4.0719")
    assert D(last["bought_quote"]) == D("399.9945")
    assert D(last["sold_quote"]) == D("406.009149")  # 4.0719 x 99.71: +6.014649 USDT
    assert D(last["average_entry"]).quantize(D("1e-8")) == D("98.23288882")
    assert state["orders"] == []
    replay.step(candle(4, "99.8", "99.9", "99.7", "99.8"))
    assert places(replay.intents)[7] == ("s7-8", Side.BUY, OrderType.MARKET, D("1.0020"), None, "dca:d2:base")


def test_cooldown_then_next_deal() -> None:
    rt = runtime(config(cooldown_bars=2, take_profit=(TakeProfitStep(D(1), D(1)),)))
    assert places(rt.on_candle(candle(0, 100, 100, 100, 100)))[0][0] == "s7-1"
    rt.on_fill(fill("s7-1", Side.BUY, "100", "1.0000"))
    rt.on_order_update(OrderUpdate("s7-1", OrderStatus.FILLED))
    # SO1 s7-2, TP s7-3 (101.00). The TP fills: cancel SO1, then the deal closes.
    out = rt.on_fill(fill("s7-3", Side.SELL, "101.00", "1.0000", asset="USDT"))
    assert out == [CancelIntent("s7-2", "dca:d1:take_profit")]
    assert rt.on_order_update(OrderUpdate("s7-2", OrderStatus.CANCELED)) == []
    assert rt.phase == "idle"
    assert rt.quiet_band() is None
    assert rt.on_candle(candle(1, 101, 101, 101, 101)) == []
    assert rt.on_candle(candle(2, 101, 101, 101, 101)) == []
    third = places(rt.on_candle(candle(3, 101, 101, 101, 101)))
    assert third == [("s7-4", Side.BUY, OrderType.MARKET, D("0.9900"), None, "dca:d2:base")]


def test_partial_fills_and_base_commission_size_the_take_profit() -> None:
    rt = runtime(config(max_active_safety_orders=2))
    rt.on_candle(candle(0, 100, 100, 100, 100))
    assert rt.on_fill(fill("s7-1", Side.BUY, "100", "0.4000", fee="0.0004")) == []  # base still open
    out = rt.on_fill(fill("s7-1", Side.BUY, "100", "0.6000", fee="0.0006"))
    # Two SOs rest at once; TP on the 0.999 BTC actually received (1.0000 - 0.001 fee).
    assert places(out) == [
        ("s7-2", Side.BUY, OrderType.LIMIT, D("1.0101"), D("99.00"), "dca:d1:so1"),
        ("s7-3", Side.BUY, OrderType.LIMIT, D("2.0618"), D("97.00"), "dca:d1:so2"),
        ("s7-4", Side.SELL, OrderType.LIMIT, D("0.9990"), D("101.50"), "dca:d1:tp1"),
    ]
    # SO1 fills half: the TP is canceled, then re-placed for the new position and average.
    out = rt.on_fill(fill("s7-2", Side.BUY, "99.00", "0.5000", fee="0.0005"))
    assert out == [CancelIntent("s7-4", "dca:d1:tp1")]
    out = rt.on_order_update(OrderUpdate("s7-4", OrderStatus.CANCELED))
    # position 0.999 + 0.4995 = 1.4985; avg (100 + 49.5) / 1.5 = 99.6666..., x 1.015 = 101.1616... -> 101.17
    assert places(out) == [("s7-5", Side.SELL, OrderType.LIMIT, D("1.4985"), D("101.17"), "dca:d1:tp1")]
    # SO1 is still resting (partially filled), so SO3 is not placed yet.
    assert {o.client_order_id for o in rt.orders.values() if o.role == "so"} == {"s7-2", "s7-3"}
    assert rt.deal is not None
    assert rt.deal.position == D("1.4985")


def test_multi_step_take_profit_then_breakeven_stop() -> None:
    steps = (TakeProfitStep(D(1), D("0.5")), TakeProfitStep(D(2), D("0.5")))
    rt = runtime(config(take_profit=steps, move_to_breakeven=True, stop_loss_pct=D(5)))
    rt.on_candle(candle(0, 100, 100, 100, 100))
    out = rt.on_fill(fill("s7-1", Side.BUY, "100", "1.0000"))
    assert places(out)[1:] == [
        ("s7-3", Side.SELL, OrderType.LIMIT, D("0.5000"), D("101.00"), "dca:d1:tp1"),
        ("s7-4", Side.SELL, OrderType.LIMIT, D("0.5000"), D("102.00"), "dca:d1:tp2"),
    ]
    assert rt.quiet_band() == QuietBand(D(95), None)  # stop 5 % below the average entry
    assert rt.on_fill(fill("s7-3", Side.SELL, "101.00", "0.5000", asset="USDT")) == []
    assert rt.quiet_band() == QuietBand(D(100), None)  # moved to breakeven
    assert rt.on_candle(candle(1, 101, 101, "100.5", "100.5")) == []
    out = rt.on_candle(candle(2, "100.5", "100.5", 100, 100))
    assert out == [CancelIntent("s7-2", "dca:d1:stop_loss"), CancelIntent("s7-4", "dca:d1:stop_loss")]
    assert rt.on_order_update(OrderUpdate("s7-2", OrderStatus.CANCELED)) == []
    out = rt.on_order_update(OrderUpdate("s7-4", OrderStatus.CANCELED))
    assert places(out) == [("s7-5", Side.SELL, OrderType.MARKET, D("0.5000"), None, "dca:d1:stop_loss")]
    rt.on_fill(fill("s7-5", Side.SELL, "100", "0.5000", asset="USDT"))
    assert rt.phase == "idle"
    assert rt.last_deal is not None
    assert rt.last_deal["exit_reason"] == "stop_loss"


def test_trailing_take_profit_sells_market_after_the_pullback() -> None:
    rt = runtime(config(take_profit=(TakeProfitStep(D(2), D(1)),), trailing_take_profit_pct=D(1)))
    rt.on_candle(candle(0, 100, 100, 100, 100))
    out = rt.on_fill(fill("s7-1", Side.BUY, "100", "1.0000"))
    assert [p[5] for p in places(out)] == ["dca:d1:so1"]  # no resting take profit
    assert rt.quiet_band() == QuietBand(None, D(102))
    assert rt.on_candle(candle(1, 100, 102, 100, 102)) == []  # activates, peak 102
    assert rt.quiet_band() is None
    assert rt.on_candle(candle(2, 102, 104, 102, 104)) == []  # peak 104, exit at <= 102.96
    assert rt.on_candle(candle(3, 104, 104, 103, 103)) == []
    out = rt.on_candle(candle(4, 103, 103, "102.9", "102.9"))
    assert out == [CancelIntent("s7-2", "dca:d1:trailing_take_profit")]
    out = rt.on_order_update(OrderUpdate("s7-2", OrderStatus.CANCELED))
    assert places(out) == [
        ("s7-3", Side.SELL, OrderType.MARKET, D("1.0000"), None, "dca:d1:trailing_take_profit")
    ]


def test_refused_take_profit_waits_for_the_next_candle() -> None:
    rt = runtime(config())
    rt.on_candle(candle(0, 100, 100, 100, 100))
    rt.on_fill(fill("s7-1", Side.BUY, "100", "1.0000"))
    assert rt.on_order_update(OrderUpdate("s7-3", OrderStatus.REJECTED)) == []
    assert rt.quiet_band() is None
    out = rt.on_candle(candle(1, 100, 100, 100, 100))
    assert places(out) == [("s7-4", Side.SELL, OrderType.LIMIT, D("1.0000"), D("101.50"), "dca:d1:tp1")]


def test_unusable_base_order_raises_and_unknown_fills_are_counted() -> None:
    rt = runtime(config(base_order_quote=D(1)))  # 1 USDT is below the 5 USDT min notional
    with pytest.raises(ValidationFailed):
        rt.on_candle(candle(0, 100, 100, 100, 100))
    rt = runtime(config())
    assert rt.on_fill(fill("s7-99", Side.BUY, "100", "1")) == []
    assert rt.snapshot()["ignored_fills"] == 1


def test_client_order_ids_are_deterministic_and_binance_valid() -> None:
    def run() -> list:
        replay = Replay(
            runtime(config(), strategy_id="A_1234567890123456789z"),
            FILTERS,
            {"USDT": D(10000)},
            fees=FeeSchedule(),
        )
        closes = [100, 99, 97, 99, 101, 100, 96, 92, 95, 99]
        return replay.run([candle(i, c, c + 1, c - 1, c) for i, c in enumerate(closes)]).intents

    first, second = run(), run()
    assert first == second
    ids = [i.client_order_id for i in first if isinstance(i, PlaceIntent)]
    assert len(ids) == len(set(ids)) > 5
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,36}", cid) for cid in ids)


def test_bad_strategy_id_and_wrong_config_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        build_runtime(strategy_id="12.3", kind="DCA", config=config(), filters=FILTERS)
    with pytest.raises(ValidationFailed):
        build_runtime(strategy_id=12, kind="GRID", config=config(), filters=FILTERS)
