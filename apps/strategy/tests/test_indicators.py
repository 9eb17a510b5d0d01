"""Indicators against reference values computed here with pandas (rolling windows, ewm with
the same seeds), to 1e-9 relative, plus hand-checked small cases and the NaN rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apps.strategy import indicators as ind

RTOL = 1e-9


def walk(seed: int, length: int, *, ties: bool = False) -> np.ndarray:
    """A positive random walk around 100 (rounded to 0.5 when `ties`, so equal values occur)."""
    rng = np.random.default_rng(seed)
    x = 100.0 + np.cumsum(rng.normal(0.0, 1.0, length))
    x = np.abs(x) + 1.0
    return np.round(x * 2) / 2 if ties else x


def candles(seed: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    close = walk(seed, length)
    high = close + rng.uniform(0.0, 2.0, length)
    low = close - rng.uniform(0.0, 2.0, length)
    return high, low, close


def assert_matches(actual: np.ndarray, expected: pd.Series | np.ndarray) -> None:
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    scale = np.nanmax(np.abs(expected)) if np.any(~np.isnan(expected)) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, equal_nan=True)


def seeded_ewm(values: pd.Series, n: int, alpha: float) -> pd.Series:
    """pandas' recursive mean (adjust=False) started from the SMA of the first n values."""
    start = values.first_valid_index()
    out = pd.Series(np.nan, index=values.index)
    if start is None or len(values) - start < n:
        return out
    seeded = values.copy()
    seeded.iloc[: start + n - 1] = np.nan
    seeded.iloc[start + n - 1] = values.iloc[start : start + n].mean()
    return seeded.ewm(alpha=alpha, adjust=False).mean().where(seeded.notna().cumsum() > 0)


def ref_ema(x: np.ndarray, n: int) -> pd.Series:
    return seeded_ewm(pd.Series(x), n, 2.0 / (n + 1))


def ref_wilder(x: np.ndarray | pd.Series, n: int) -> pd.Series:
    return seeded_ewm(pd.Series(x), n, 1.0 / n)


def ref_rsi(x: np.ndarray, n: int) -> pd.Series:
    change = pd.Series(x).diff()
    gain = change.clip(lower=0.0).where(change.notna())
    loss = (-change).clip(lower=0.0).where(change.notna())
    avg_gain, avg_loss = ref_wilder(gain, n), ref_wilder(loss, n)
    total = avg_gain + avg_loss
    return (100.0 * avg_gain / total).where(total != 0.0, ind.RSI_FLAT).where(total.notna())


def ref_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> pd.Series:
    h, lo, c = pd.Series(high), pd.Series(low), pd.Series(close)
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1, skipna=False)
    return ref_wilder(tr, n)


windows = st.integers(1, 40)
seeds = st.integers(0, 2**32 - 1)
lengths = st.integers(1, 300)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, length=lengths, n=windows, ties=st.booleans())
@example(seed=41422, length=166, n=5, ties=True)  # flat windows: pandas' online std drifts there
def test_window_indicators_match_pandas_rolling(seed, length, n, ties):
    x = walk(seed, length, ties=ties)
    s = pd.Series(x)
    assert_matches(ind.sma(x, n), s.rolling(n).mean())
    assert_matches(ind.highest(x, n), s.rolling(n).max())
    assert_matches(ind.lowest(x, n), s.rolling(n).min())
    upper, middle, lower = ind.bbands(x, n, 2.5)
    # per-window two-pass deviation: pandas' online rolling std drifts by ~1e-9 relative on
    # flat windows of tick-rounded prices (its running sums cancel), the reference must not
    std = s.rolling(n).apply(lambda w: np.std(w, ddof=0), raw=True)
    assert_matches(middle, s.rolling(n).mean())
    assert_matches(upper, s.rolling(n).mean() + 2.5 * std)
    assert_matches(lower, s.rolling(n).mean() - 2.5 * std)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, length=lengths, n=windows, ties=st.booleans())
def test_recursive_indicators_match_pandas_ewm(seed, length, n, ties):
    x = walk(seed, length, ties=ties)
    assert_matches(ind.ema(x, n), ref_ema(x, n))
    assert_matches(ind.wilder(x, n), ref_wilder(x, n))
    assert_matches(ind.rsi(x, n), ref_rsi(x, n))
    high, low, close = candles(seed, length)
    assert_matches(ind.atr(high, low, close, n), ref_atr(high, low, close, n))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, length=lengths, fast=st.integers(1, 15), extra=st.integers(1, 20), signal=windows)
def test_macd_matches_pandas(seed, length, fast, extra, signal):
    x = walk(seed, length)
    slow = fast + extra
    line, sig, hist = ind.macd(x, fast, slow, signal)
    ref_line = ref_ema(x, fast) - ref_ema(x, slow)
    ref_signal = seeded_ewm(ref_line, signal, 2.0 / (signal + 1))
    assert_matches(line, ref_line)
    assert_matches(sig, ref_signal)
    assert_matches(hist, ref_line - ref_signal)


def test_small_cases_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(ind.sma(x, 2)[1:], [1.5, 2.5, 3.5, 4.5])
    assert math.isnan(ind.sma(x, 2)[0])
    np.testing.assert_array_equal(ind.highest(x[::-1], 3)[2:], [5.0, 4.0, 3.0])
    # ema(3): seed (1+2+3)/3 = 2 at index 2, then 2 + 0.5·(4-2) = 3, 3 + 0.5·(5-3) = 4
    np.testing.assert_array_equal(ind.ema(x, 3)[2:], [2.0, 3.0, 4.0])
    # a market that only rises has RSI 100; one that does not move, 50 (neutral)
    assert ind.rsi(x, 2)[2:].tolist() == [100.0, 100.0, 100.0]
    assert ind.rsi(np.full(6, 7.0), 3)[3:].tolist() == [50.0, 50.0, 50.0]
    assert np.isnan(ind.rsi(x, 2)[:2]).all()  # first value at index n
    # true range uses the previous close: a gap up counts
    tr = ind.true_range([10.0, 15.0], [9.0, 14.0], [9.5, 14.5])
    assert math.isnan(tr[0])
    assert tr[1] == 5.5
    np.testing.assert_array_equal(ind.crosses_above([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), [False, False, True])
    np.testing.assert_array_equal(ind.crosses_below([3.0, 2.0, 1.0], [2.0, 2.0, 2.0]), [False, False, True])


def test_first_defined_index_of_each_indicator():
    high, low, close = candles(7, 100)
    first = {
        "sma": ind.sma(close, 10),
        "ema": ind.ema(close, 10),
        "rsi": ind.rsi(close, 10),
        "atr": ind.atr(high, low, close, 10),
        "macd_line": ind.macd(close, 5, 10, 4)[0],
        "macd_signal": ind.macd(close, 5, 10, 4)[1],
    }
    expected = {"sma": 9, "ema": 9, "rsi": 10, "atr": 10, "macd_line": 9, "macd_signal": 12}
    for name, values in first.items():
        assert int(np.argmax(~np.isnan(values))) == expected[name], name


def test_undefined_input_restarts_the_recursion():
    x = np.array([1.0, 2.0, 3.0, np.nan, 10.0, 20.0, 30.0])
    out = ind.ema(x, 2)
    # seeded at index 1 with 1.5, then 1.5 + (2/3)(3 - 1.5) = 2.5; NaN breaks it; re-seeded at
    # index 5 with (10 + 20) / 2 = 15, then 15 + (2/3)(30 - 15) = 25
    np.testing.assert_allclose(out, [np.nan, 1.5, 2.5, np.nan, np.nan, 15.0, 25.0], equal_nan=True)
    assert np.isnan(ind.sma(x, 2)[3:5]).all()  # windows containing NaN are undefined
    assert ind.sma(x, 2)[5] == 15.0


@settings(max_examples=40, deadline=None)
@given(seed=seeds, length=st.integers(50, 400), n=windows)
def test_window_values_do_not_depend_on_history(seed, length, n):
    """Bit-for-bit: a window function's last value over the whole series equals its value
    over the last n candles (the live engine evaluates tails)."""
    x = walk(seed, length, ties=True)
    assert ind.sma(x, n)[-1] == ind.sma(x[-n:], n)[-1]
    assert ind.highest(x, n)[-1] == ind.highest(x[-n:], n)[-1]
    for full, tail in zip(ind.bbands(x, n, 2.0), ind.bbands(x[-n:], n, 2.0), strict=True):
        assert full[-1] == tail[-1]


def test_recursive_values_converge_over_twenty_periods():
    x = walk(3, 5000)
    for n in (2, 14, 50):
        full, short = ind.rsi(x, n)[-1], ind.rsi(x[-(n + 1 + 20 * n) :], n)[-1]
        assert abs(full - short) <= 1e-8 * abs(full)
        full, short = ind.ema(x, n)[-1], ind.ema(x[-(n + 20 * n) :], n)[-1]
        assert abs(full - short) <= 1e-8 * abs(full)


def test_too_short_input_is_all_undefined():
    x = np.array([1.0, 2.0])
    for values in (ind.sma(x, 3), ind.ema(x, 3), ind.rsi(x, 2), ind.highest(x, 3), ind.bbands(x, 3, 2)[0]):
        assert np.isnan(values).all()
    assert ind.sma(np.array([]), 3).shape == (0,)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_window_must_be_a_positive_integer(n):
    with pytest.raises(ValueError, match="positive integer"):
        ind.sma(np.ones(5), n)


def _windowed_whole_series(x: np.ndarray, n: int, reduce: str) -> np.ndarray:
    """The unblocked kernel `_windowed` replaced (one pass per window position over the whole
    series), verbatim: the oracle for the blocked one."""
    out = np.full(x.shape[0], math.nan)
    m = x.shape[0] - n + 1
    if m <= 0:
        return out
    acc = x[0:m].copy()
    op = {"sum": np.add, "max": np.maximum, "min": np.minimum}[reduce]
    for j in range(1, n):
        op(acc, x[j : j + m], out=acc)
    out[n - 1 :] = acc
    return out


@settings(max_examples=200, deadline=None)
@given(
    length=st.sampled_from(
        [0, 1, 5, 49, 50, 51, ind._BLOCK - 1, ind._BLOCK + 49, 2 * ind._BLOCK + 7, 3 * ind._BLOCK]
    ),
    n=st.sampled_from([1, 2, 3, 20, 50, 199]),
    reduce=st.sampled_from(["sum", "max", "min"]),
    seed=st.integers(0, 2**32 - 1),
    holes=st.sampled_from([0.0, 0.001, 0.05]),
)
def test_the_blocked_window_kernel_is_bit_for_bit_the_whole_series_one(
    length, n, reduce, seed, holes
) -> None:
    """Blocks change the order in which outputs are made, never an output: same bytes (NaN,
    infinities and signed zeros included) across block boundaries and at every length."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(10, 2, length) * rng.choice([-1.0, 1.0, 1.0], length)
    special = rng.random(length) < holes
    x[special] = rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0], int(special.sum()))
    with np.errstate(invalid="ignore"):  # inf + -inf: NaN in both, as meant
        expected = _windowed_whole_series(x, n, reduce)
        assert ind._windowed(x, n, reduce).tobytes() == expected.tobytes()
        if reduce == "sum":  # sma divides the sums in place: what `sums / n` gave
            assert ind.sma(x, n).tobytes() == (_windowed_whole_series(x, n, reduce) / n).tobytes()
