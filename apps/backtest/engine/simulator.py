"""The backtest loop: a strategy runtime over candle arrays, through the simulated broker.

The fill model (docs/BACKTEST.md has the long form):

1. A candle is replayed as ticks along `apps.exchange.matching.candle_path`: O -> L -> H -> C
   for a rising or flat candle, O -> H -> L -> C for a falling one (the extreme nearer the
   open first), the same rule the simulator uses.
2. The intents `on_candle` returns after candle i closes are executed at the open of candle
   i + 1, after the market has moved to that open: MARKET orders trade there as taker, moved
   against the order by the slippage (bps, rounded to the tick away from the order); a LIMIT
   that already crosses trades there as taker at the open; others rest.
3. A resting LIMIT buy fills when a tick's price <= its price (sell: >=), at the limit price,
   as maker: a candle that trades through the price (low <= buy price / high >= sell price)
   fills it, a gap through it at the open included.
4. The runtime is told of every fill at the tick it happens and what it answers is executed
   at once at that tick's price (a grid's counter-order can fill later in the same candle).

Speed: only candles that can change something get Python work (see `scan.py`): a resting
order within the candle's range, a close outside the runtime's quiet band, a pending intent,
or (Swing) a precomputed rule signal. Balances cannot change on the other candles, so the
equity there is the last balances marked at each close, computed vectorized afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from apps.candles import intervals
from apps.candles.domain import CandleArrays
from apps.exchange.matching import FeeSchedule, candle_path
from apps.strategy.runtime.types import CandleBar, Intent, StrategyRuntime

from .broker import SimulatedBroker
from .scan import EVERY_CANDLE, CandleScanner, Reach, Watch
from .signals import SwingSignals

Progress = Callable[[int, int], None]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def to_decimal(value: float) -> Decimal:
    """The decimal a float64 candle value was read from: the shortest repr round-trips any
    value with up to 15 significant digits, which every exchange price and volume has."""
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    interval: str
    fees: FeeSchedule
    slippage_bps: Decimal
    initial_quote: Decimal


@dataclass(slots=True)
class BalanceHistory:
    """The balances over a run, recorded only where they change (what the equity curve needs)."""

    initial_quote: Decimal
    #: Indices of candles after which balances changed, and the (base, quote) held from then on.
    change_index: list[int] = field(default_factory=list)
    change_base: list[Decimal] = field(default_factory=list)
    change_quote: list[Decimal] = field(default_factory=list)
    steps: int = 0  # candles that got Python work
    candles: int = 0

    def balances_per_candle(self) -> tuple[FloatArray, FloatArray]:
        """(base, quote) held at each candle's close, as float64 arrays (for the curve)."""
        n = self.candles
        if not self.change_index:
            return np.zeros(n), np.full(n, float(self.initial_quote))
        # Each recorded balance holds from its candle to the next change (the initial ones
        # before the first): one run per value, repeated. Indices increase; a repeated index
        # gives the earlier value a run of 0 (the later one wins, as a lookup would).
        idx = np.asarray(self.change_index, dtype=np.int64)
        runs = np.diff(idx, prepend=0, append=n)
        base = np.repeat(_floats(Decimal(0), self.change_base), runs)
        quote = np.repeat(_floats(self.initial_quote, self.change_quote), runs)
        return base, quote

    def balances_at(self, index: int) -> tuple[Decimal, Decimal]:
        """Exact (base, quote) held at the close of candle `index`."""
        k = int(np.searchsorted(np.asarray(self.change_index, dtype=np.int64), index, side="right")) - 1
        if k < 0:
            return Decimal(0), self.initial_quote
        return self.change_base[k], self.change_quote[k]


def _floats(first: Decimal, values: list[Decimal]) -> FloatArray:
    """`first` then `values` as float64, each exactly `float(value)`."""
    out = np.empty(len(values) + 1)
    out[0] = float(first)
    out[1:] = np.fromiter(map(float, values), np.float64, len(values))  # float() each, as asarray
    return out


@dataclass(slots=True, kw_only=True)
class SimulationResult(BalanceHistory):
    broker: SimulatedBroker


class Simulation:
    def __init__(
        self,
        *,
        runtime: StrategyRuntime,
        broker: SimulatedBroker,
        candles: CandleArrays,
        settings: SimulationSettings,
        signals: SwingSignals | None = None,
        start: int = 0,
    ) -> None:
        self.start = start  # candles before it are history only (indicator warm-up)
        self.runtime = runtime
        self.broker = broker
        self.candles = candles
        self.settings = settings
        self.signals = signals
        self.scanner = CandleScanner(candles.high, candles.low, candles.close)
        self.result = SimulationResult(
            broker=broker, initial_quote=settings.initial_quote, candles=len(candles)
        )

    def run(self, progress: Progress | None = None) -> SimulationResult:
        n = len(self.candles)
        pending: list[Intent] = []
        i = self.start
        last_report = i - 1
        report_every = max(n // 200, 1)
        while i < n:
            pending = self._process(i, pending)
            self.result.steps += 1
            if progress is not None and i - last_report >= report_every:
                progress(i + 1 - self.start, n - self.start)
                last_report = i
            if pending:
                i += 1
            elif self.runtime.finished and not self.broker.has_open_orders():
                break
            else:
                i = self.scanner.next_needed(i + 1, self._reach())
        if progress is not None:
            progress(n - self.start, n - self.start)
        return self.result

    # -- one candle ----------------------------------------------------------------------

    def _process(self, i: int, pending: list[Intent]) -> list[Intent]:
        c = self.candles
        open_ms = int(c.open_time[i])
        close_ms = intervals.close_of(open_ms, self.settings.interval)
        o, h, lo, cl = (
            to_decimal(c.open[i]),
            to_decimal(c.high[i]),
            to_decimal(c.low[i]),
            to_decimal(c.close[i]),
        )
        broker = self.broker
        path = candle_path(o, h, lo, cl)
        span = close_ms - open_ms
        times = (open_ms, open_ms + span // 3, open_ms + 2 * span // 3, close_ms)
        fills_before = broker.fill_count
        if pending or broker.reaches(o):
            broker.tick(o, open_ms)
            broker.execute(pending, open_ms)
        for point, moment in zip(path[1:], times[1:], strict=True):
            if broker.reaches(point):
                broker.tick(point, moment)
        bar = CandleBar(
            open_time=intervals.from_ms(open_ms),
            close_time=intervals.from_ms(close_ms),
            open=o,
            high=h,
            low=lo,
            close=cl,
            volume=to_decimal(c.volume[i]),
        )
        intents = self._on_candle(i, bar)
        if broker.fill_count != fills_before or not self.result.change_index:
            after = broker.totals()
            self.result.change_index.append(i)
            self.result.change_base.append(after[0])
            self.result.change_quote.append(after[1])
        return intents

    def _on_candle(self, i: int, bar: CandleBar) -> list[Intent]:
        if self.signals is None:
            return self.runtime.on_candle(bar)
        return self.signals.step(self.runtime, i, bar)

    def _reach(self) -> Reach:
        broker = self.broker
        if self.signals is not None:
            watch = self.signals.watch(self.runtime)
        else:
            band = self.runtime.quiet_band()
            watch = None if band is None else Watch(low=band.low, high=band.high)
        if watch is None:
            return EVERY_CANDLE
        return Reach(
            buy_max=broker.buy_max,
            sell_min=broker.sell_min,
            close_at_or_below=watch.low,
            close_at_or_above=watch.high,
            signal=watch.signal,
        )
