"""A compiled Swing rule and the arrays it reads.

`compile_rule(text)` parses, validates and plans a rule once; the result evaluates

- vectorized over a whole candle series (the backtester), and
- at the latest candle (the live engine), reading only the tail it needs when the rule
  depends on a finite window of candles.

Both give the same boolean at every candle for the same input, bit for bit: they run the
same kernels, and window kernels compute each value from its own window only (see
apps/strategy/indicators.py). Recursive indicators (ema, rsi, atr, macd) depend on the
whole series they are given; `recommended_history` says how many candles make them agree
with a longer history to about 1e-9 relative.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from apps.strategy import indicators
from apps.strategy.dsl import ast, plan
from apps.strategy.dsl.checker import check
from apps.strategy.dsl.grammar import parse
from apps.strategy.dsl.printer import to_text

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# A recursive indicator with period p has forgotten its start after about SETTLE_FACTOR · p
# candles: (1 - 1/p)^(20p) < e^-20 ≈ 2e-9 for Wilder's smoothing, even less for an EMA.
SETTLE_FACTOR = 20


def _column(values: npt.ArrayLike, name: str) -> FloatArray:
    array = indicators.as_float_array(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True)
class Series:
    """One candle per index, oldest first (float64; converted on construction)."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        for name in plan.SERIES_NAMES:
            object.__setattr__(self, name, _column(getattr(self, name), name))
        lengths = {len(getattr(self, name)) for name in plan.SERIES_NAMES}
        if len(lengths) != 1:
            raise ValueError(f"open/high/low/close/volume differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.close)

    def tail(self, count: int) -> Series:
        """The last `count` candles (views, no copy)."""
        start = max(len(self) - count, 0)
        return Series(*(getattr(self, name)[start:] for name in plan.SERIES_NAMES))

    def columns(self) -> dict[str, FloatArray]:
        return {name: getattr(self, name) for name in plan.SERIES_NAMES}


@dataclass(frozen=True, slots=True)
class PositionSeries:
    """The position terms on every candle; NaN where the strategy is flat.

    entry_price: average entry price; pnl_pct: unrealized PnL in percent of the entry
    (1.5 = +1.5 %) at the candle's close; bars_in_trade: closed candles since the entry
    (0 on the candle the entry filled)."""

    entry_price: FloatArray
    pnl_pct: FloatArray
    bars_in_trade: FloatArray

    def __post_init__(self) -> None:
        for name in plan.POSITION_NAMES:
            object.__setattr__(self, name, _column(getattr(self, name), name))
        lengths = {len(getattr(self, name)) for name in plan.POSITION_NAMES}
        if len(lengths) != 1:
            raise ValueError(f"entry_price/pnl_pct/bars_in_trade differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.pnl_pct)

    @classmethod
    def flat(cls, length: int) -> PositionSeries:
        empty = np.full(length, math.nan)
        return cls(empty, empty, empty)


@dataclass(frozen=True, slots=True)
class PositionState:
    """The position terms at the latest candle; None (or NaN) when flat."""

    entry_price: float | None = None
    pnl_pct: float | None = None
    bars_in_trade: float | None = None

    def value(self, name: str) -> float:
        raw = getattr(self, name)
        return math.nan if raw is None else float(raw)


class _FlatPosition(dict[str, "np.ndarray"]):
    """The position columns of a flat position (all NaN), each made when a rule first reads
    it. Rules without position terms never do, and three 1M-candle columns made up front cost
    a backtest's first run ~50 ms of page faults for nothing."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def __missing__(self, name: str) -> np.ndarray:
        if name not in plan.POSITION_NAMES:
            raise KeyError(name)
        column = self[name] = np.full(self.length, math.nan)
        return column


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule, ready to evaluate. Build it with `compile_rule`."""

    text: str
    canonical: str  # normalized text (spacing, parentheses); compiles to the same rule
    lookback: int  # candles, the current one included, before the rule can be true
    uses_position: bool  # entry_price / pnl_pct / bars_in_trade appear
    window_only: bool  # no recursive indicator: the value depends on the last `lookback` candles only
    recommended_history: int  # candles to give evaluate_latest (== lookback when window_only)
    _root: plan.Node = field(repr=False, compare=False)

    def evaluate_vectorized(self, series: Series, position: PositionSeries | None = None) -> BoolArray:
        """The rule on every candle of `series` (False where it is undefined)."""
        length = len(series)
        if position is None:
            position = PositionSeries.flat(length)
        elif len(position) != length:
            raise ValueError(f"position has {len(position)} candles, series {length}")
        ctx = plan.Context(
            length=length,
            series=series.columns(),
            position={name: getattr(position, name) for name in plan.POSITION_NAMES},
        )
        return plan.evaluate(self._root, ctx)

    @staticmethod
    def evaluate_all(rules: tuple[CompiledRule, ...], series: Series) -> list[BoolArray]:
        """`[rule.evaluate_vectorized(series) for rule in rules]` (no position terms), computing
        a sub-expression the rules share once (see `plan.Context.shared`)."""
        ctx = plan.Context(
            length=len(series), series=series.columns(), position=_FlatPosition(len(series)), shared={}
        )
        return [plan.evaluate(rule._root, ctx) for rule in rules]

    def bind(self, series: Series) -> BoundRule:
        """The rule over `series`, evaluated candle by candle with a position (see BoundRule)."""
        return BoundRule(self, series)

    def evaluate_latest(self, series: Series, position: PositionState | None = None) -> bool:
        """The rule at the last candle of `series` — exactly
        `evaluate_vectorized(series, <position at the last candle>)[-1]`, reading only the
        last `lookback` candles when the rule is window-only (position terms have no
        history, so only the latest state matters)."""
        if len(series) == 0:
            return False
        if self.window_only:
            series = series.tail(self.lookback)
        length = len(series)
        state = position or PositionState()
        columns = []
        for name in plan.POSITION_NAMES:
            column = np.full(length, math.nan)
            column[-1] = state.value(name)
            columns.append(column)
        return bool(self.evaluate_vectorized(series, PositionSeries(*columns))[-1])


class BoundRule:
    """A rule bound to one candle series, for a backtest that must evaluate a rule reading
    position terms candle by candle (the position depends on the path). Everything that does
    not read the position is computed once, vectorized, on first use; `at(i, position)` then
    costs a few scalar operations and equals `evaluate_vectorized(series, positions)[i]`
    for a position series holding `position` at candle i."""

    def __init__(self, rule: CompiledRule, series: Series) -> None:
        self.rule = rule
        self._ctx = plan.Context(
            length=len(series),
            series=series.columns(),
            position={name: np.full(len(series), math.nan) for name in plan.POSITION_NAMES},
        )
        self._dependent = plan.position_dependent(rule._root)

    def at(self, index: int, position: PositionState | None = None) -> bool:
        if not 0 <= index < self._ctx.length:
            raise IndexError(f"candle {index} is outside the series (0..{self._ctx.length - 1})")
        state = position or PositionState()
        scalars = {name: state.value(name) for name in plan.POSITION_NAMES}
        return bool(plan.evaluate_at(self.rule._root, index, self._ctx, self._dependent, scalars))


def _compile(text: str) -> CompiledRule:
    tree: ast.Expr = parse(text)
    typed = check(tree)
    root = typed.node
    window_only = root.span == 0
    return CompiledRule(
        text=text,
        canonical=to_text(tree),
        lookback=root.lookback,
        uses_position=typed.uses_position,
        window_only=window_only,
        recommended_history=root.lookback + SETTLE_FACTOR * root.span,
        _root=root,
    )


@functools.lru_cache(maxsize=512)
def compile_rule(text: str) -> CompiledRule:
    """Parse, validate and plan `text`. Raises a DslError subclass (with code, line, column
    and what was expected) for anything that is not a valid boolean rule. Cached: compiled
    rules are immutable."""
    if not isinstance(text, str):
        raise TypeError(f"rule text must be a str, got {type(text).__name__}")
    return _compile(text)
