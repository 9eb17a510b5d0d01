"""Backtest and live see the same rule: on random rules over random candles (with ties and
undefined stretches), `evaluate_latest` on the candles up to t equals `evaluate_vectorized`
over the whole series at t — on every candle."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.strategy.dsl import PositionSeries, PositionState, Series, compile_rule

WINDOWS = st.integers(1, 6)
SERIES = st.sampled_from(["open", "high", "low", "close", "volume"])
POSITION = st.sampled_from(["entry_price", "pnl_pct", "bars_in_trade"])
NUMBERS = st.one_of(st.integers(0, 120).map(str), st.floats(0, 120).map(lambda f: f"{f:.2f}"))


def _indicator(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    single = st.tuples(st.sampled_from(["sma", "ema", "rsi", "highest", "lowest"]), inner, WINDOWS).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    )
    macd = st.tuples(
        inner, st.integers(1, 4), st.integers(1, 4), WINDOWS, st.sampled_from(["line", "signal", "hist"])
    )
    bbands = st.tuples(
        inner, WINDOWS, st.sampled_from(["0.5", "1", "2"]), st.sampled_from(["upper", "middle", "lower"])
    )
    arith = st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    return st.one_of(
        single,
        WINDOWS.map(lambda n: f"atr({n})"),
        macd.map(lambda t: f"macd({t[0]}, {t[1]}, {t[1] + t[2]}, {t[3]}).{t[4]}"),
        bbands.map(lambda t: f"bbands({t[0]}, {t[1]}, {t[2]}).{t[3]}"),
        arith,
        inner.map(lambda x: f"-{x}"),
    )


MARKET = st.recursive(st.one_of(SERIES, NUMBERS), _indicator, max_leaves=5)
NUMERIC = st.one_of(
    MARKET,
    POSITION,
    st.tuples(MARKET, st.sampled_from(["+", "-", "*", "/"]), POSITION).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
)
OPERATORS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
# An indicator against its own input: on flat stretches both sides are mathematically equal,
# so any history-dependent rounding would flip the comparison.
SELF_COMPARISON = st.tuples(
    st.sampled_from(["sma", "ema", "highest", "lowest"]), MARKET, WINDOWS, OPERATORS
).map(lambda t: f"{t[0]}({t[1]}, {t[2]}) {t[3]} {t[1]}")
COMPARISON = st.one_of(st.tuples(NUMERIC, OPERATORS, NUMERIC).map(" ".join), SELF_COMPARISON)
CROSS = st.tuples(st.sampled_from(["crosses_above", "crosses_below"]), MARKET, MARKET).map(
    lambda t: f"{t[0]}({t[1]}, {t[2]})"
)
RULES = st.recursive(
    st.one_of(COMPARISON, CROSS),
    lambda inner: st.one_of(
        inner.map(lambda x: f"not ({x})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    ),
    max_leaves=4,
)


@st.composite
def candles(draw: st.DrawFn) -> tuple[Series, PositionSeries]:
    length = draw(st.integers(1, 70))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    close = 100 + np.cumsum(rng.normal(0, 1, length))
    if draw(st.booleans()):  # prices on a 0.1 tick: equal values, exact crossings
        close = np.round(close, 1)
    if draw(st.booleans()):  # a flat stretch
        start = draw(st.integers(0, length - 1))
        close[start : start + draw(st.integers(2, 12))] = close[start]
    high = close + np.round(rng.uniform(0, 2, length), 1)
    low = close - np.round(rng.uniform(0, 2, length), 1)
    open_ = np.roll(close, 1)
    volume = np.round(rng.uniform(0, 5, length))  # zeros: divisions by zero happen
    if draw(st.booleans()):  # an undefined stretch: restarts recursive indicators
        start = draw(st.integers(0, length - 1))
        close[start : start + draw(st.integers(1, 3))] = np.nan
    in_trade = rng.uniform(size=length) < 0.5
    entry = np.where(in_trade, 100.0, np.nan)
    pnl = np.where(in_trade, np.round(rng.normal(0, 3, length), 1), np.nan)
    bars = np.where(in_trade, rng.integers(0, 10, length), np.nan).astype(float)
    return Series(open_, high, low, close, volume), PositionSeries(entry, pnl, bars)


def prefix(series: Series, end: int) -> Series:
    return Series(*(getattr(series, name)[:end] for name in ("open", "high", "low", "close", "volume")))


def state_at(position: PositionSeries, t: int) -> PositionState:
    def value(name: str) -> float | None:
        v = float(getattr(position, name)[t])
        return None if np.isnan(v) else v

    return PositionState(value("entry_price"), value("pnl_pct"), value("bars_in_trade"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RULES, data=candles())
def test_latest_equals_vectorized_on_every_candle(text, data):
    series, position = data
    rule = compile_rule(text)
    everywhere = rule.evaluate_vectorized(series, position)
    for t in range(len(series)):
        latest = rule.evaluate_latest(prefix(series, t + 1), state_at(position, t))
        assert latest == bool(everywhere[t]), (text, t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RULES, data=candles())
def test_bound_rule_equals_vectorized_on_every_candle(text, data):
    """The backtester's candle-by-candle path for rules reading the position."""
    series, position = data
    rule = compile_rule(text)
    everywhere = rule.evaluate_vectorized(series, position)
    bound = rule.bind(series)
    for t in range(len(series)):
        assert bound.at(t, state_at(position, t)) == bool(everywhere[t]), (text, t)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RULES, data=candles())
def test_a_longer_history_does_not_change_window_only_rules(text, data):
    """Window-only rules depend on their last `lookback` candles alone: evaluating the tail
    or the full series gives the same value at every candle past the warm-up."""
    series, position = data
    rule = compile_rule(text)
    if not rule.window_only:
        return
    everywhere = rule.evaluate_vectorized(series, position)
    for t in range(rule.lookback - 1, len(series)):
        tail = prefix(series, t + 1).tail(rule.lookback)
        assert rule.evaluate_latest(tail, state_at(position, t)) == bool(everywhere[t])


def test_the_typical_rule_on_two_thousand_candles():
    rng = np.random.default_rng(11)
    close = 100 + np.cumsum(rng.normal(0, 1, 2000))
    series = Series(close, close + 1, close - 1, close, np.ones(2000))
    rule = compile_rule("crosses_above(sma(close, 20), sma(close, 50)) and rsi(close, 14) < 70")
    everywhere = rule.evaluate_vectorized(series)
    assert 5 < everywhere.sum() < 100  # the rule does fire, now and then
    latest = [rule.evaluate_latest(prefix(series, t + 1)) for t in range(len(series))]
    assert latest == everywhere.tolist()
