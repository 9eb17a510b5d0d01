"""Technical indicators over float64 numpy arrays, shared by the Swing DSL, the live engine and
the backtester.

Conventions (docs/DSL.md repeats them for users):

- Every function returns arrays as long as its input; a value that is not defined yet
  (warm-up) or cannot be defined (an undefined input) is NaN.
- Window functions (`sma`, `highest`, `lowest`, `bbands`) compute each output from its own
  window only, in a fixed order (oldest to newest), never from a running sum: the value at a
  candle is bit for bit the same whether it is computed over ten years of candles or over the
  last `n`. The live engine relies on that to evaluate a rule over a short tail.
- Recursive functions (`ema`, `rsi`, `atr`, `macd`) are seeded with the simple average of
  their first `n` inputs (as TA-Lib does); `rsi` and `atr` use Wilder's smoothing
  (alpha = 1/n), `ema` uses alpha = 2/(n+1). An undefined input (NaN) interrupts the
  recursion: the output is undefined until `n` consecutive defined inputs have seeded it
  again. Their value depends on where the input starts, so they converge rather than match
  exactly when computed over a shorter history (the weight of an input `k` candles back is
  (1 - alpha)^k).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

NAN = math.nan
# RSI when neither gains nor losses happened over the smoothing (a flat market): neutral.
# TA-Lib returns 0 there; 50 keeps `rsi < 30` from firing on a market that does not move.
RSI_FLAT = 50.0


def as_float_array(values: npt.ArrayLike) -> FloatArray:
    """A contiguous float64 copy-free view when possible (the dtype every kernel expects)."""
    return np.ascontiguousarray(values, dtype=np.float64)


def _check_window(n: int) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"window must be a positive integer, got {n!r}")


#: Outputs per block of `_windowed` (256 KB of float64): the accumulator and the inputs it
#: reads stay in the CPU cache for all `n` passes (over a million candles, one pass per
#: window position over the whole series streamed ~8 MB from memory each time).
_BLOCK = 32768


def _windowed(x: FloatArray, n: int, reduce: str) -> FloatArray:
    """out[i] = reduce(x[i-n+1], ..., x[i]) applied left to right, NaN for i < n-1.

    Computed block by block: each output is still the same operations on the same inputs in
    the same order (so bit for bit the same), only the order in which outputs are made differs."""
    _check_window(n)
    x = as_float_array(x)
    out = np.full(x.shape[0], NAN)
    m = x.shape[0] - n + 1
    if m <= 0:
        return out
    op = {"sum": np.add, "max": np.maximum, "min": np.minimum}[reduce]
    for start in range(0, m, _BLOCK):
        stop = min(start + _BLOCK, m)
        acc = out[n - 1 + start : n - 1 + stop]  # a view: accumulate in place
        acc[:] = x[start:stop]
        for j in range(1, n):
            op(acc, x[start + j : stop + j], out=acc)
    return out


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Simple moving average of the last `n` values (defined from the n-th value on)."""
    out = _windowed(as_float_array(x), n, "sum")
    out /= n  # the same division, into the sums' own array (one array of 1M candles fewer)
    return out


def highest(x: npt.ArrayLike, n: int) -> FloatArray:
    """Highest of the last `n` values, the current one included."""
    return _windowed(as_float_array(x), n, "max")


def lowest(x: npt.ArrayLike, n: int) -> FloatArray:
    """Lowest of the last `n` values, the current one included."""
    return _windowed(as_float_array(x), n, "min")


def bbands(x: npt.ArrayLike, n: int, k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands: (upper, middle, lower) = sma ± k * population standard deviation
    (ddof = 0, as TA-Lib), each window's deviation computed from that window's own mean."""
    x = as_float_array(x)
    middle = sma(x, n)
    squares = np.full(x.shape[0], NAN)
    m = x.shape[0] - n + 1
    if m > 0:
        mean = middle[n - 1 :]
        acc = np.zeros(m)
        for j in range(n):
            d = x[j : j + m] - mean
            acc += d * d
        squares[n - 1 :] = acc
    std = np.sqrt(squares / n)
    return middle + k * std, middle, middle - k * std


def _defined_runs(x: FloatArray) -> list[tuple[int, int]]:
    """[start, end) of every run of consecutive defined (non-NaN) values."""
    undefined = np.isnan(x)
    if not undefined.any():
        return [(0, x.shape[0])] if x.shape[0] else []
    padded = np.concatenate([[True], undefined, [True]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _smooth(values: list[float], n: int, *, wilder: bool) -> list[float]:
    """The recursion over one run of defined values (len >= n): its outputs from index n-1."""
    seed = 0.0
    for v in values[:n]:  # left to right, as documented (not math.fsum, not pairwise)
        seed += v
    prev = seed / n
    out = [prev]
    append = out.append
    if wilder:
        n_minus_1 = float(n - 1)
        for v in values[n:]:
            prev = (prev * n_minus_1 + v) / n
            append(prev)
    else:
        k = 2.0 / (n + 1)
        for v in values[n:]:
            prev = prev + k * (v - prev)
            append(prev)
    return out


def _recursive(x: FloatArray, n: int, *, wilder: bool) -> FloatArray:
    """Seeded exponential smoothing; see the module docstring for seeds and NaN restarts.

    EMA: prev + k·(v - prev), k = 2/(n+1); Wilder: (prev·(n-1) + v)/n — TA-Lib's formulas."""
    _check_window(n)
    x = as_float_array(x)
    out = np.full(x.shape[0], NAN)
    for start, end in _defined_runs(x):
        if end - start >= n:
            out[start + n - 1 : end] = _smooth(x[start:end].tolist(), n, wilder=wilder)
    return out


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values."""
    return _recursive(as_float_array(x), n, wilder=False)


def wilder(x: npt.ArrayLike, n: int) -> FloatArray:
    """Wilder's smoothing (alpha = 1/n), seeded with the SMA of the first n values."""
    return _recursive(as_float_array(x), n, wilder=True)


def rsi(x: npt.ArrayLike, n: int) -> FloatArray:
    """Relative strength index (Wilder, as TA-Lib): changes d[t] = x[t] - x[t-1]; average gain
    and loss seeded with the mean over the first n changes, then Wilder-smoothed;
    rsi = 100·gain / (gain + loss), RSI_FLAT when both are zero. First value at index n."""
    x = as_float_array(x)
    change = np.full(x.shape[0], NAN)
    change[1:] = x[1:] - x[:-1]
    with np.errstate(invalid="ignore"):
        gain = np.where(change > 0, change, 0.0)
        loss = np.where(change < 0, -change, 0.0)
    undefined = np.isnan(change)
    gain[undefined] = NAN
    loss[undefined] = NAN
    avg_gain = wilder(gain, n)
    avg_loss = wilder(loss, n)
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 100.0 * avg_gain / total
    return np.where(total == 0.0, RSI_FLAT, value)


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """max(high - low, |high - previous close|, |low - previous close|); undefined on the
    first candle (no previous close), as TA-Lib."""
    high, low, close = as_float_array(high), as_float_array(low), as_float_array(close)
    out = np.full(high.shape[0], NAN)
    if high.shape[0] > 1:
        prev_close = close[:-1]
        h, lo = high[1:], low[1:]
        out[1:] = np.maximum(np.maximum(h - lo, np.abs(h - prev_close)), np.abs(lo - prev_close))
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int) -> FloatArray:
    """Average true range: Wilder smoothing of the true range seeded with the mean of its
    first n values (candles 1..n), so the first value is at index n, as TA-Lib."""
    return wilder(true_range(high, low, close), n)


def macd(x: npt.ArrayLike, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(line, signal, histogram): line = ema(x, fast) - ema(x, slow), signal = ema(line, signal),
    histogram = line - signal. Each EMA is seeded with its own first SMA (TA-Lib delays the
    fast EMA's seed to the slow one's start instead, so the first values differ slightly)."""
    x = as_float_array(x)
    line = ema(x, fast) - ema(x, slow)
    signal_line = ema(line, signal)
    return line, signal_line, line - signal_line


def crosses_above(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True at t when a[t] > b[t] and a[t-1] <= b[t-1], all four defined; False at t = 0."""
    return _crosses(as_float_array(a), as_float_array(b), above=True)


def crosses_below(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True at t when a[t] < b[t] and a[t-1] >= b[t-1], all four defined; False at t = 0."""
    return _crosses(as_float_array(a), as_float_array(b), above=False)


def _crosses(a: FloatArray, b: FloatArray, *, above: bool) -> npt.NDArray[np.bool_]:
    a, b = np.broadcast_arrays(a, b)
    out = np.zeros(a.shape[0], dtype=bool)
    if a.shape[0] > 1:
        if above:
            out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
        else:
            out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


__all__: Sequence[str] = (
    "RSI_FLAT",
    "as_float_array",
    "atr",
    "bbands",
    "crosses_above",
    "crosses_below",
    "ema",
    "highest",
    "lowest",
    "macd",
    "rsi",
    "sma",
    "true_range",
    "wilder",
)
