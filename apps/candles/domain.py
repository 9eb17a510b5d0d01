"""Candle DTOs: what importers produce and other apps read (Decimal, never float).

`CandleArrays` is the exception: the numeric view of a range for indicator math
(float64 prices, int64 open times in ms), built by `selectors.load_arrays` without model instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CandleData:
    """One OHLCV candle of a series (the series' symbol and interval are given alongside)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: datetime


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    symbol: str
    interval: str
    count: int
    first_open_time: datetime | None
    last_open_time: datetime | None
    last_close_time: datetime | None


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """A range of one series as parallel arrays, oldest first."""

    open_time: IntArray  # ms since the epoch
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    def slice(self, start: int, stop: int) -> CandleArrays:
        return CandleArrays(
            open_time=self.open_time[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )

    @classmethod
    def empty(cls) -> CandleArrays:
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(), f.copy())
