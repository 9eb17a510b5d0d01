"""Find the next candle that needs Python work, with numpy, without touching the others.

A candle needs work when its range reaches a resting order (buy: low <= the highest buy
price; sell: high >= the lowest sell price), when its close leaves the runtime's quiet band,
or when an extra mask (a Swing rule's precomputed signals) is set. Every other candle cannot
change anything: no order fills and the runtime's `on_candle` would be a no-op.

The search looks at a window that grows geometrically from the start, so the cost is
proportional to the distance skipped (amortized O(n) over a whole run), never O(n) per call.
Comparisons are made on float64 with a relative margin, so rounding can only make a candle
"needed" that is not (harmless: it is then processed exactly in Decimal), never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Relative slack on float comparisons (float64 carries ~16 significant digits).
MARGIN = 1e-9
_FIRST_WINDOW = 64
_MAX_WINDOW = 1 << 18


@dataclass(frozen=True, slots=True)
class Reach:
    """What makes a candle need work; None = that condition cannot trigger."""

    buy_max: Decimal | None = None  # low <= this
    sell_min: Decimal | None = None  # high >= this
    close_at_or_below: Decimal | None = None  # close <= this
    close_at_or_above: Decimal | None = None  # close >= this
    signal: BoolArray | None = None  # candles flagged in advance (a Swing rule's signals)
    every: bool = False  # the runtime must see every candle


EVERY_CANDLE = Reach(every=True)


@dataclass(frozen=True, slots=True)
class Watch:
    """What the runtime itself needs to see: closes at or outside (low, high), flagged candles."""

    low: Decimal | None = None
    high: Decimal | None = None
    signal: BoolArray | None = None


def _up(value: Decimal) -> float:
    return float(value) * (1 + MARGIN)


def _down(value: Decimal) -> float:
    return float(value) * (1 - MARGIN)


class CandleScanner:
    def __init__(self, high: FloatArray, low: FloatArray, close: FloatArray) -> None:
        self.high = high
        self.low = low
        self.close = close
        self.n = len(close)

    def next_needed(self, start: int, reach: Reach) -> int:
        """The first index >= start that needs work, or n if none does."""
        if reach.every:
            return start
        size = _FIRST_WINDOW
        while start < self.n:
            stop = min(self.n, start + size)
            mask = self._mask(start, stop, reach)
            hit = int(mask.argmax())
            if mask[hit]:
                return start + hit
            start = stop
            size = min(size * 4, _MAX_WINDOW)
        return self.n

    def _mask(self, start: int, stop: int, reach: Reach) -> BoolArray:
        mask = np.zeros(stop - start, dtype=np.bool_)
        if reach.buy_max is not None:
            mask |= self.low[start:stop] <= _up(reach.buy_max)
        if reach.sell_min is not None:
            mask |= self.high[start:stop] >= _down(reach.sell_min)
        if reach.close_at_or_below is not None:
            mask |= self.close[start:stop] <= _up(reach.close_at_or_below)
        if reach.close_at_or_above is not None:
            mask |= self.close[start:stop] >= _down(reach.close_at_or_above)
        if reach.signal is not None:
            mask |= reach.signal[start:stop]
        return mask
