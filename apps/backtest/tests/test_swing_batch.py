"""The batched Swing path against the general one (the reference: the live SwingRuntime
through the simulated broker and the matching engine): on random candles, rules, sizing,
stops, fees, slippage, filters, balances and warm-ups, both give the same orders, fills,
refusals, tags, equity, metrics, digest and visited candles — or refuse the run with the
same error."""

from __future__ import annotations

from dataclasses import astuple
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.backtest.engine import BacktestSpec, simulate
from apps.backtest.engine import runner as runner_module
from apps.backtest.engine.runner import BacktestOutcome
from apps.backtest.engine.swing_batch import _Trader, _Venue
from apps.candles.domain import CandleArrays
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.core.errors import ValidationFailed
from apps.exchange.matching import (
    EngineError,
    FeeSchedule,
    check_filters,
    check_notional,
    check_precision,
    exact_arithmetic,
)
from apps.strategy.configs import StrategyKind, SwingConfig, parse_config
from apps.strategy.runtime.base import DECIMAL_CONTEXT, conform, sellable_quantity
from apps.strategy.runtime.swing import entry_quantity

from .helpers import FILTERS, START_MS, synthetic

WINDOW = st.integers(2, 12)
AVERAGE = st.sampled_from(["sma", "ema"])


@st.composite
def rule_pair(draw: st.DrawFn) -> tuple[str, str]:
    """(entry, exit): moving-average crosses, thresholds, candle shapes, combinations."""
    fast, slow = draw(WINDOW), draw(WINDOW)
    avg = draw(AVERAGE)
    cross_up = f"crosses_above({avg}(close, {fast}), {avg}(close, {slow}))"
    cross_down = f"crosses_below({avg}(close, {fast}), {avg}(close, {slow}))"
    level = draw(st.integers(20, 80))
    shapes = [
        (cross_up, cross_down),
        (f"close > {avg}(close, {slow})", f"close < {avg}(close, {fast})"),
        (f"rsi(close, {fast}) < {level}", f"rsi(close, {slow}) > {100 - level // 2}"),
        ("close > open", "close < open"),
        (f"({cross_up}) or close < lowest(low, {slow})", f"{cross_down} and close < open"),
        (f"not (close <= highest(high, {fast}) * 0.999)", f"crosses_below(close, sma(close, {slow}))"),
        (f"crosses_above(ema(close, {fast}), sma(close, {slow}))", f"close < bbands(close, {slow}, 1).lower"),
    ]
    return draw(st.sampled_from(shapes))


@st.composite
def swing_config(draw: st.DrawFn) -> dict[str, Any]:
    entry, exit_ = draw(rule_pair())
    mode = draw(st.sampled_from(["quote", "base"]))
    quote_sizes = ["7", "100", "100", "999.99", "999.99", "5000"]
    value = draw(st.sampled_from(quote_sizes if mode == "quote" else ["0.0001", "0.013", "0.013", "0.03"]))
    config: dict[str, Any] = {"entry": entry, "exit": exit_, "sizing_mode": mode, "sizing_value": value}
    stop = draw(st.sampled_from([None, "0.05", "0.3", "2"]))
    take = draw(st.sampled_from([None, "0.07", "0.5", "3"]))
    if stop is not None:
        config["stop_loss_pct"] = stop
    if take is not None:
        config["take_profit_pct"] = take
    return config


@st.composite
def filters(draw: st.DrawFn) -> SymbolFilters:
    return SymbolFilters(
        symbol="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        tick_size=Decimal(draw(st.sampled_from(["0.01", "0.05", "0.1", "1"]))),
        step_size=Decimal(draw(st.sampled_from(["0.00001", "0.001", "0.0025", "0.1"]))),
        min_qty=Decimal(draw(st.sampled_from(["0", "0.00001", "0.00001", "0.01"]))),
        max_qty=Decimal(draw(st.sampled_from(["0", "9000", "9000", "0.05"]))),
        min_notional=Decimal(draw(st.sampled_from(["0", "5", "5", "50"]))),
    )


@st.composite
def candles(draw: st.DrawFn) -> CandleArrays:
    """A seeded walk on a cent grid; sometimes gaps between a close and the next open."""
    n = draw(st.integers(30, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cents = np.maximum(100, np.round(30000_00 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))))
    close = cents / 100
    open_ = np.roll(close, 1)
    open_[0] = close[0]
    if draw(st.booleans()):
        open_ = np.maximum(1.0, np.round(open_ * (1 + rng.normal(0, 0.002, n)), 2))
    wick = np.round(np.abs(rng.normal(0, 30, n)), 2)
    high = np.maximum(open_, close) + wick
    low = np.maximum(0.01, np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 30, n)), 2))
    columns = (open_, np.round(high, 2), np.round(low, 2), close, np.round(rng.uniform(0, 10, n), 3))
    return CandleArrays(
        START_MS + np.arange(n, dtype=np.int64) * 60_000, *(np.asarray(c, dtype=np.float64) for c in columns)
    )


def run(spec: BacktestSpec, data: CandleArrays, warmup: int, *, reference: bool) -> BacktestOutcome | str:
    try:
        return simulate(spec, data, warmup=warmup, reference=reference)
    except ValidationFailed as exc:
        return f"{type(exc).__name__}: {exc.code} {exc}"


def assert_same(batched: BacktestOutcome | str, general: BacktestOutcome | str) -> None:
    if isinstance(general, str) or isinstance(batched, str):
        assert batched == general
        return
    assert [astuple(o) for o in batched.orders] == [astuple(o) for o in general.orders]
    assert [(astuple(r.intent), r.time_ms, r.reason) for r in batched.rejections] == [
        (astuple(r.intent), r.time_ms, r.reason) for r in general.rejections
    ]
    assert [astuple(t) for t in batched.trades] == [astuple(t) for t in general.trades]
    assert batched.tags == general.tags
    assert batched.equity.points == general.equity.points
    assert [(p.equity.as_tuple(), p.base.as_tuple(), p.quote.as_tuple()) for p in batched.equity.points] == [
        (p.equity.as_tuple(), p.base.as_tuple(), p.quote.as_tuple()) for p in general.equity.points
    ]
    assert batched.equity.per_candle.tobytes() == general.equity.per_candle.tobytes()
    assert batched.equity.base_per_candle.tobytes() == general.equity.base_per_candle.tobytes()
    assert batched.metrics.to_json() == general.metrics.to_json()
    assert batched.result_digest == general.result_digest
    assert (batched.steps, batched.candles) == (general.steps, general.candles)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=swing_config(),
    symbol=filters(),
    data=candles(),
    maker=st.sampled_from(["0", "0.001", "0.00075"]),
    taker=st.sampled_from(["0", "0.001", "0.0123"]),
    slippage=st.sampled_from(["0", "1", "2.5", "50"]),
    initial=st.sampled_from(["10", "150", "1000", "1000", "12345.678", "12345.678", "1000000"]),
    warmup=st.integers(0, 25),
)
def test_batched_path_equals_the_general_path(
    config, symbol, data, maker, taker, slippage, initial, warmup
) -> None:
    spec = BacktestSpec(
        kind=StrategyKind.SWING,
        config=parse_config(StrategyKind.SWING, config),
        filters=symbol,
        interval="1m",
        fees=FeeSchedule(maker=Decimal(maker), taker=Decimal(taker)),
        slippage_bps=Decimal(slippage),
        initial_quote=Decimal(initial),
    )
    warmup = min(warmup, len(data) - 1)
    batched = run(spec, data, warmup, reference=False)
    assert_same(batched, run(spec, data, warmup, reference=True))
    if isinstance(batched, str):
        event("refused run")
    else:
        event(f"fills: {min(len(batched.trades), 5)}{'+' if len(batched.trades) >= 5 else ''}")
        event("some intent refused" if batched.rejections else "no intent refused")


SMA_CROSS = {
    "entry": "crosses_above(sma(close, 20), sma(close, 50))",
    "exit": "crosses_below(sma(close, 20), sma(close, 50))",
    "sizing_mode": "quote",
    "sizing_value": "500",
}


@pytest.mark.parametrize(
    ("extra", "initial"),
    [({}, "10000"), ({"stop_loss_pct": "0.4", "take_profit_pct": "0.6"}, "10000"), ({}, "503")],
    ids=["plain", "stops", "short-of-cash"],
)
def test_batched_path_on_a_long_series_trades_refuses_and_matches(extra, initial) -> None:
    data = synthetic(20_000, seed=5)
    spec = BacktestSpec(
        kind=StrategyKind.SWING,
        config=parse_config(StrategyKind.SWING, SMA_CROSS | extra),
        filters=FILTERS,
        interval="1m",
        fees=FeeSchedule(maker=Decimal("0.001"), taker=Decimal("0.001")),
        slippage_bps=Decimal("2"),
        initial_quote=Decimal(initial),
    )
    batched = simulate(spec, data, warmup=51)
    general = simulate(spec, data, warmup=51, reference=True)
    assert len(batched.trades) >= 4
    if initial == "503":  # the first entries fit; once fees and losses eat 3 USDT, refused
        assert batched.rejections
    assert_same(batched, general)


def test_the_batched_path_is_the_one_taken(monkeypatch) -> None:
    """`simulate` picks it by itself for a rule without position terms, not otherwise."""
    taken: list[bool] = []
    real = runner_module.SwingBatch.run

    def spy(self: Any, progress: Any = None) -> Any:
        taken.append(True)
        return real(self, progress)

    monkeypatch.setattr(runner_module.SwingBatch, "run", spy)
    data = synthetic(600, seed=2)
    base = SMA_CROSS | {"sizing_value": "100"}
    for config, expected in ((base, [True]), (base | {"exit": "pnl_pct > 0.2 or pnl_pct < -0.2"}, [])):
        taken.clear()
        spec = BacktestSpec(
            kind=StrategyKind.SWING,
            config=parse_config(StrategyKind.SWING, config),
            filters=SymbolFilters("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001")),
            interval="1m",
            fees=FeeSchedule(),
            slippage_bps=Decimal(0),
            initial_quote=Decimal(10000),
        )
        simulate(spec, data)
        assert taken == expected


@settings(max_examples=300, deadline=None)
@given(
    symbol=filters(),
    quantity=st.decimals(min_value=Decimal("-1"), max_value=Decimal("100"), places=20, allow_nan=False),
    reference=st.sampled_from([None, Decimal("0.5"), Decimal("30000"), Decimal("12345.67")]),
)
def test_sellable_quantity_answers_what_conform_would(symbol, quantity, reference) -> None:
    """The dust short cut (below one step: None without trying) changes no answer."""
    try:
        expected: Decimal | None = (
            conform(symbol, Side.SELL, quantity, None, reference).quantity if quantity > 0 else None
        )
    except ValidationFailed:
        expected = None
    assert sellable_quantity(symbol, quantity, reference) == expected


STEPS = ["0.00001", "0.0010", "0.001", "0.0025", "0.1", "1", "5", "1E+1", "0.000010000000000000", "1E-18"]
ODD_STEPS = ["0.0000100000000000000", "0.00100000000000000000000"]  # finer exponent than 1e-18


@settings(max_examples=3000, deadline=None)
@given(
    step=st.sampled_from(STEPS + ODD_STEPS),
    min_qty=st.sampled_from(["0", "0.00001", "0.01"]),
    min_notional=st.sampled_from(["0", "5", "50"]),
    raw=st.one_of(
        st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), allow_nan=False, places=12),
        st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("0.1"), allow_nan=False, places=12),
    ),
    reference=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200000"), allow_nan=False, places=8),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    sized=st.booleans(),
    max_qty=st.sampled_from(["0", "0.05", "9000"]),
    max_notional=st.sampled_from(["0", "1000", "1E+30"]),
    moved=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.5"), allow_nan=False, places=4),
)
def test_the_second_conform_is_skipped_only_where_it_returns_its_input(
    step, min_qty, min_notional, raw, reference, side, sized, max_qty, max_notional, moved
) -> None:
    """The trader's `_conformed` (a quantize to the step's exponent) gives exactly — same
    coefficient and exponent — what `conform` gives for a quantity already conformed with the
    same side and reference (by `conform` itself or by the entry sizing); the venue skips
    `check_precision` only where it passes; and where the venue checks only the notional
    (`lot_checked`), at any execution price, that gives `check_filters`' verdict."""
    symbol = SymbolFilters(
        "BTCUSDT",
        "BTC",
        "USDT",
        Decimal("0.01"),
        Decimal(step),
        min_qty=Decimal(min_qty),
        max_qty=Decimal(max_qty),
        min_notional=Decimal(min_notional),
        max_notional=Decimal(max_notional),
    )
    with localcontext(DECIMAL_CONTEXT):
        try:
            if sized and side == Side.BUY:
                config = parse_config(
                    StrategyKind.SWING, SMA_CROSS | {"sizing_mode": "quote", "sizing_value": str(raw)}
                )
                assert isinstance(config, SwingConfig)
                quantity = entry_quantity(config, reference, symbol)
            else:
                quantity = conform(symbol, side, raw, None, reference).quantity
        except ValidationFailed:
            return
        swing = parse_config(StrategyKind.SWING, SMA_CROSS)
        assert isinstance(swing, SwingConfig)
        trader = _Trader(swing, symbol, "bt")
        expected = conform(symbol, side, quantity, None, reference).quantity
        assert trader._conformed(side, quantity, reference).as_tuple() == expected.as_tuple()
        placed = trader._conformed(side, quantity, reference)
    event("shortcut" if trader.step_quantum is not None else "conform again")
    venue = _Venue(symbol, FeeSchedule(), Decimal(0), Decimal(1000))
    if not venue.check_quantity_precision:
        with exact_arithmetic():
            check_precision(quantity=expected, price=None, quote_order_qty=None)
    if trader.lot_checked:
        exec_price = (reference * moved).quantize(Decimal("0.01"))
        with exact_arithmetic():
            checked = verdict(lambda: check_filters(symbol, side, OrderType.MARKET, placed, None, exec_price))
            assert verdict(lambda: check_notional(symbol, placed, exec_price)) == checked
        event(f"venue check: {checked}")


def verdict(check: Any) -> str:
    try:
        check()
    except EngineError as exc:
        return f"{exc.code}: {exc.message}"
    return "passes"


@settings(max_examples=300, deadline=None)
@given(
    phase=st.sampled_from(["flat", "long"]),
    entry_price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2E+5"), allow_nan=False, places=8),
    close=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200000"), allow_nan=False, places=2),
    position=st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("10"), allow_nan=False, places=5),
    entry=st.booleans(),
    stop=st.sampled_from([None, "0.05", "2"]),
    take=st.sampled_from([None, "0.07", "3"]),
)
def test_the_closes_the_loop_skips_are_the_ones_where_the_trader_does_nothing(
    phase, entry_price, close, position, entry, stop, take
) -> None:
    """`SwingBatch.run` does not call `on_close` while flat without an entry signal, or while
    long without an exit signal when no stop is set: there the trader answers nothing and
    changes nothing. With a stop or a take profit set, a long close may exit (not skipped)."""
    extra = {k: v for k, v in (("stop_loss_pct", stop), ("take_profit_pct", take)) if v is not None}
    config = parse_config(StrategyKind.SWING, SMA_CROSS | extra)
    assert isinstance(config, SwingConfig)
    trader = _Trader(config, FILTERS, "bt")
    trader.phase = phase
    if phase == "long":
        trader.entry_price, trader.position, trader.trade_qty = entry_price, position, position
    elif entry:
        return  # flat with an entry signal: not skipped
    state = ("phase", "position", "trade_qty", "trade_quote", "entry_price", "exit_reason", "exit_ref")
    before = {name: getattr(trader, name) for name in (*state, "in_flight", "seq")}
    intents = trader.on_close(close, entry, False)
    after = {name: getattr(trader, name) for name in before}
    if phase == "flat" or (stop is None and take is None):  # what the loop skips
        assert intents == []
        assert after == before
    else:  # a stop to check: the close may exit (not skipped)
        event("exits" if after != before else "stays")
