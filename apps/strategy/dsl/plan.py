"""The compiled form of a rule: a small DAG of typed nodes, evaluated over whole float64
arrays (one numpy operation per node, each node once even if the rule repeats it).

Undefined values are NaN in numeric arrays. Booleans are always defined: a comparison with
an undefined operand is False (`!=` included), `crosses_*` is False unless all four values
it compares are defined; `not`, `and`, `or` then work on plain booleans.

Each node also knows:
- `lookback`: candles (the current one included) its value at a candle needs before it can
  be defined, with defined inputs from the start;
- `span`: the sum of recursive periods (ema, rsi, atr, macd) along its deepest chain, 0 if
  its value depends on a finite window only. For a window-only node the value at a candle
  depends on the last `lookback` candles and nothing else, bit for bit (see indicators.py).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from apps.strategy import indicators

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Values = FloatArray | BoolArray

SERIES_NAMES = ("open", "high", "low", "close", "volume")
POSITION_NAMES = ("entry_price", "pnl_pct", "bars_in_trade")


@dataclass(slots=True)
class Context:
    """The arrays one evaluation reads, and the values computed so far (by node identity).

    `shared`, when given, also keeps values by node *structure*, so several rules evaluated on
    one context compute a sub-expression they have in common (a Swing entry and exit reading
    the same two moving averages) once: equal nodes compute equal arrays.
    """

    length: int
    series: dict[str, FloatArray]
    position: dict[str, FloatArray]
    memo: dict[int, Any] = field(default_factory=dict)
    shared: dict[Node, Any] | None = None

    def value(self, node: Node) -> Any:
        key = id(node)
        if key not in self.memo:
            shared = self.shared
            if shared is None:
                self.memo[key] = node.compute(self)
            else:
                if node not in shared:
                    shared[node] = node.compute(self)
                self.memo[key] = shared[node]
        return self.memo[key]


@dataclass(frozen=True, slots=True, eq=True)
class Node:
    lookback: int = field(init=False, default=1, compare=False)
    span: int = field(init=False, default=0, compare=False)

    def compute(self, ctx: Context) -> Values:
        raise NotImplementedError

    def _set(self, lookback: int, span: int) -> None:
        object.__setattr__(self, "lookback", lookback)
        object.__setattr__(self, "span", span)


@dataclass(frozen=True, slots=True, eq=True)
class Const(Node):
    value: float

    def compute(self, ctx: Context) -> FloatArray:
        return np.full(ctx.length, self.value)


@dataclass(frozen=True, slots=True, eq=True)
class Input(Node):
    name: str  # one of SERIES_NAMES

    def compute(self, ctx: Context) -> FloatArray:
        return ctx.series[self.name]


@dataclass(frozen=True, slots=True, eq=True)
class PositionTerm(Node):
    name: str  # one of POSITION_NAMES

    def compute(self, ctx: Context) -> FloatArray:
        return ctx.position[self.name]


@dataclass(frozen=True, slots=True, eq=True)
class Negate(Node):
    operand: Node

    def __post_init__(self) -> None:
        self._set(self.operand.lookback, self.operand.span)

    def compute(self, ctx: Context) -> FloatArray:
        return np.negative(ctx.value(self.operand))


def _divide(a: FloatArray, b: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b)
    out[b == 0.0] = np.nan  # x / 0 is undefined, not ±inf
    return out


_ARITH: dict[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": _divide,
}


def _not_equal(a: FloatArray, b: FloatArray) -> BoolArray:
    return np.not_equal(a, b) & ~np.isnan(a) & ~np.isnan(b)


_COMPARE: dict[str, Callable[[FloatArray, FloatArray], BoolArray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": _not_equal,
}


@dataclass(frozen=True, slots=True, eq=True)
class Binary(Node):
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node

    def __post_init__(self) -> None:
        self._set(max(self.left.lookback, self.right.lookback), max(self.left.span, self.right.span))

    def compute(self, ctx: Context) -> Values:
        a, b = ctx.value(self.left), ctx.value(self.right)
        if self.op in _ARITH:
            with np.errstate(all="ignore"):  # overflow to inf, inf - inf = NaN: IEEE semantics
                return _ARITH[self.op](a, b)
        if self.op in _COMPARE:
            with np.errstate(invalid="ignore"):
                return _COMPARE[self.op](a, b)
        return np.logical_and(a, b) if self.op == "and" else np.logical_or(a, b)


@dataclass(frozen=True, slots=True, eq=True)
class Not(Node):
    operand: Node

    def __post_init__(self) -> None:
        self._set(self.operand.lookback, self.operand.span)

    def compute(self, ctx: Context) -> BoolArray:
        return np.logical_not(ctx.value(self.operand))


@dataclass(frozen=True, slots=True, eq=True)
class Cross(Node):
    above: bool
    left: Node
    right: Node

    def __post_init__(self) -> None:
        self._set(max(self.left.lookback, self.right.lookback) + 1, max(self.left.span, self.right.span))

    def compute(self, ctx: Context) -> BoolArray:
        a, b = ctx.value(self.left), ctx.value(self.right)
        with np.errstate(invalid="ignore"):
            if self.above:
                return indicators.crosses_above(a, b)
            return indicators.crosses_below(a, b)


@dataclass(frozen=True, slots=True, eq=True)
class Raw(Node):
    """Every output of an indicator computed at once (macd's line, signal and hist come from
    one computation); `source` is None for atr, which reads high/low/close itself."""

    function: str
    source: Node | None
    params: tuple[float, ...]

    def compute(self, ctx: Context) -> Any:
        n = [int(p) for p in self.params]
        if self.function == "atr":
            s = ctx.series
            return indicators.atr(s["high"], s["low"], s["close"], n[0])
        if self.source is None:
            raise ValueError(f"{self.function} needs a source series")
        x = ctx.value(self.source)
        if self.function == "macd":
            return indicators.macd(x, n[0], n[1], n[2])
        if self.function == "bbands":
            return indicators.bbands(x, n[0], self.params[1])
        single: Callable[[FloatArray, int], FloatArray] = getattr(indicators, self.function)
        return single(x, n[0])


@dataclass(frozen=True, slots=True, eq=True)
class Indicator(Node):
    """One output of an indicator (`output` is None for single-line ones)."""

    raw: Raw
    output: str | None = None

    def __post_init__(self) -> None:
        source = self.raw.source
        base = source.lookback if source is not None else 1
        span = source.span if source is not None else 0
        lookback, own_span = _warm_up(self.raw.function, self.raw.params, self.output)
        self._set(base + lookback, span + own_span)

    def compute(self, ctx: Context) -> FloatArray:
        values = ctx.value(self.raw)
        if self.output is None:
            return values
        return values[OUTPUTS[self.raw.function].index(self.output)]


OUTPUTS: dict[str, tuple[str, ...]] = {
    "macd": ("line", "signal", "hist"),
    "bbands": ("upper", "middle", "lower"),
}


def _warm_up(function: str, params: tuple[float, ...], output: str | None) -> tuple[int, int]:
    """(candles added to the source's lookback, recursive span added) for one indicator."""
    n = int(params[0])
    if function in ("sma", "highest", "lowest", "bbands"):
        return n - 1, 0
    if function == "ema":
        return n - 1, n
    if function == "rsi":
        return n, n
    if function == "atr":
        return n, n  # true range needs a previous close: first value at index n
    # macd: the line needs the slow EMA; signal and hist need `signal` line values more
    slow, signal = int(params[1]), int(params[2])
    line_lookback = slow - 1
    if output == "line":
        return line_lookback, slow
    return line_lookback + signal - 1, slow + signal


def evaluate(root: Node, ctx: Context) -> BoolArray:
    """The rule's boolean value on every candle of the context."""
    return np.asarray(ctx.value(root), dtype=bool)


def position_dependent(root: Node) -> set[int]:
    """Ids of the nodes whose value reads a position term (directly or below them)."""
    dependent: set[int] = set()

    def visit(node: Node) -> bool:
        children = [getattr(node, name) for name in ("operand", "left", "right") if hasattr(node, name)]
        reads = isinstance(node, PositionTerm)
        for child in children:
            reads = visit(child) or reads
        if reads:
            dependent.add(id(node))
        return reads

    visit(root)
    return dependent


def _scalar_arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return math.nan if b == 0.0 else a / b  # as _divide: x / 0 is undefined


_SCALAR_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def _scalar_compare(op: str, a: float, b: float) -> bool:
    if op == "!=":
        return a != b and a == a and b == b  # noqa: PLR0124 - NaN check, as _not_equal
    return bool(_SCALAR_COMPARE[op](a, b))


def evaluate_at(  # noqa: PLR0911 - one return per node kind and short circuit
    node: Node, index: int, ctx: Context, dependent: set[int], position: dict[str, float]
) -> Any:
    """The value of `node` at one candle: market-only sub-trees are read from their arrays
    (computed once over the whole context), the position-dependent rest with the same IEEE
    operations on scalars, so the result equals the vectorized one at `index`."""
    if id(node) not in dependent:
        return ctx.value(node)[index]
    if isinstance(node, PositionTerm):
        return position[node.name]
    if isinstance(node, Negate):
        return -evaluate_at(node.operand, index, ctx, dependent, position)
    if isinstance(node, Not):
        return not evaluate_at(node.operand, index, ctx, dependent, position)
    if not isinstance(node, Binary):
        raise TypeError(f"{type(node).__name__} cannot depend on the position")
    a = evaluate_at(node.left, index, ctx, dependent, position)
    if node.op == "and" and not a:
        return False
    if node.op == "or" and a:
        return True
    b = evaluate_at(node.right, index, ctx, dependent, position)
    if node.op in _ARITH:
        return _scalar_arith(node.op, float(a), float(b))
    if node.op in _COMPARE:
        return _scalar_compare(node.op, float(a), float(b))
    return bool(b)
