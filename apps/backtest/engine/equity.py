"""The equity curve: quote held plus base held marked at each candle's close.

Two views of one series. Per candle (float64, in memory only): for max drawdown and exposure,
so intraday drops count. Sampled (exact Decimal, stored): the start (initial balance at the
first open) and the close of each UTC day's last candle, or of every candle when candles are a
day or longer; the daily-return metrics use exactly these points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

import numpy as np
import numpy.typing as npt

from apps.candles import intervals
from apps.candles.domain import CandleArrays

from .simulator import BalanceHistory, to_decimal

FloatArray = npt.NDArray[np.float64]
DAY_MS = 86_400_000
#: NUMERIC(38, 18): what the database stores exactly.
STORED = Decimal("1e-18")


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time: datetime
    equity: Decimal
    base: Decimal
    quote: Decimal


@dataclass(frozen=True, slots=True)
class EquityCurve:
    points: list[EquityPoint]
    #: Equity at every candle's close (float64), and the close times (ms).
    per_candle: FloatArray
    close_ms: npt.NDArray[np.int64]
    base_per_candle: FloatArray
    initial: Decimal
    start_ms: int
    end_ms: int

    @property
    def final(self) -> Decimal:
        return self.points[-1].equity if self.points else self.initial


def _sample_indices(open_time: npt.NDArray[np.int64], interval: str) -> npt.NDArray[np.int64]:
    """Index of the last candle of each UTC day (every candle for daily or longer candles)."""
    n = len(open_time)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if intervals.nominal_ms(interval) >= DAY_MS:
        return np.arange(n, dtype=np.int64)
    day = open_time // DAY_MS
    last = np.flatnonzero(np.diff(day) != 0)
    return np.append(last, n - 1).astype(np.int64)


def build_equity(result: BalanceHistory, candles: CandleArrays, interval: str) -> EquityCurve:
    n = len(candles)
    base_f, quote_f = result.balances_per_candle()
    per_candle = base_f * candles.close
    np.add(quote_f, per_candle, out=per_candle)  # quote + base * close, without a second array
    length = intervals.nominal_ms(interval)
    close_ms = candles.open_time + (length - 1)
    initial = result.initial_quote
    start_ms = int(candles.open_time[0]) if n else 0
    end_ms = intervals.close_of(int(candles.open_time[-1]), interval) if n else 0
    points = [EquityPoint(intervals.from_ms(start_ms), initial, Decimal(0), initial)] if n else []
    change = np.asarray(result.change_index, dtype=np.int64)
    samples = _sample_indices(candles.open_time, interval)
    positions = np.searchsorted(change, samples, side="right") - 1
    for index, k in zip(samples.tolist(), positions.tolist(), strict=True):
        if k < 0:
            base, quote = Decimal(0), initial
        else:
            base, quote = result.change_base[k], result.change_quote[k]
        moment = intervals.close_of(int(candles.open_time[index]), interval)
        with localcontext() as ctx:
            ctx.prec = 60
            equity = (quote + base * to_decimal(candles.close[index])).quantize(STORED)
        points.append(EquityPoint(intervals.from_ms(moment), equity, base, quote))
    return EquityCurve(
        points=points,
        per_candle=per_candle,
        close_ms=close_ms,
        base_per_candle=base_f,
        initial=initial,
        start_ms=start_ms,
        end_ms=end_ms,
    )
