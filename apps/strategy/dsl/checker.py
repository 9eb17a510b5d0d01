"""Validation of a syntax tree and its translation into plan nodes.

Checks every name (series, position terms, functions, outputs), every call's arity, every
argument's type and literal range, and types the tree: numbers (series of float64) and
booleans never mix. Identical sub-expressions become one node (interned), so a rule that
says `sma(close, 20)` twice computes it once."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from apps.strategy.dsl import ast, plan
from apps.strategy.dsl.errors import (
    DslArgumentError,
    DslArityError,
    DslError,
    DslNameError,
    DslTypeError,
)

MAX_WINDOW = 2000
_INTEGER = re.compile(r"\d+")


class Kind(StrEnum):
    NUMBER = "number"
    BOOLEAN = "boolean"


class Param(StrEnum):
    SERIES = "series"  # any number-valued expression without position terms
    WINDOW = "window"  # integer literal in 1..MAX_WINDOW
    POSITIVE = "positive"  # number literal > 0


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    params: tuple[tuple[str, Param], ...]
    returns: Kind
    outputs: tuple[str, ...] = ()  # multi-line indicators: one must be selected with `.name`

    @property
    def signature(self) -> str:
        args = ", ".join(name for name, _ in self.params)
        suffix = "." + "|".join(self.outputs) if self.outputs else ""
        return f"{self.name}({args}){suffix}"


def _single(name: str) -> FunctionSpec:
    return FunctionSpec(name, (("series", Param.SERIES), ("n", Param.WINDOW)), Kind.NUMBER)


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        _single("sma"),
        _single("ema"),
        _single("rsi"),
        _single("highest"),
        _single("lowest"),
        FunctionSpec("atr", (("n", Param.WINDOW),), Kind.NUMBER),
        FunctionSpec(
            "macd",
            (
                ("series", Param.SERIES),
                ("fast", Param.WINDOW),
                ("slow", Param.WINDOW),
                ("signal", Param.WINDOW),
            ),
            Kind.NUMBER,
            plan.OUTPUTS["macd"],
        ),
        FunctionSpec(
            "bbands",
            (("series", Param.SERIES), ("n", Param.WINDOW), ("k", Param.POSITIVE)),
            Kind.NUMBER,
            plan.OUTPUTS["bbands"],
        ),
        FunctionSpec("crosses_above", (("a", Param.SERIES), ("b", Param.SERIES)), Kind.BOOLEAN),
        FunctionSpec("crosses_below", (("a", Param.SERIES), ("b", Param.SERIES)), Kind.BOOLEAN),
    )
}
NAMES = (*plan.SERIES_NAMES, *plan.POSITION_NAMES)
N = TypeVar("N", bound=plan.Node)
_ARTICLE = {Kind.NUMBER: "a number", Kind.BOOLEAN: "a boolean"}


@dataclass(frozen=True, slots=True)
class Typed:
    node: plan.Node
    kind: Kind
    uses_position: bool


class Checker:
    def __init__(self) -> None:
        self._interned: dict[plan.Node, plan.Node] = {}

    def rule(self, tree: ast.Expr) -> Typed:
        typed = self.check(tree)
        if typed.kind is not Kind.BOOLEAN:
            pos = ast.start(tree)
            raise DslTypeError(
                "a rule must be true or false (a comparison, crosses_above/crosses_below, or "
                "and/or/not of them), but this is a number",
                line=pos.line,
                column=pos.column,
                expected=["a boolean"],
            )
        return typed

    def intern(self, node: N) -> N:
        found = self._interned.setdefault(node, node)
        return found if isinstance(found, type(node)) else node

    def check(self, tree: ast.Expr) -> Typed:  # noqa: PLR0911 - one branch per node kind
        if isinstance(tree, ast.Number):
            return Typed(self.intern(plan.Const(_number(tree))), Kind.NUMBER, False)
        if isinstance(tree, ast.Name):
            return self._name(tree)
        if isinstance(tree, ast.Call):
            return self._call(tree, member=None)
        if isinstance(tree, ast.Member):
            if not isinstance(tree.target, ast.Call):
                pos = ast.start(tree.target)
                raise DslTypeError(
                    f"'.{tree.member}' applies to macd(...) or bbands(...) only",
                    line=pos.line,
                    column=pos.column,
                    expected=["macd(series, fast, slow, signal)", "bbands(series, n, k)"],
                )
            return self._call(tree.target, member=tree)
        if isinstance(tree, ast.Negate):
            operand = self._expect(tree.operand, Kind.NUMBER, "'-'")
            return Typed(self.intern(plan.Negate(operand.node)), Kind.NUMBER, operand.uses_position)
        if isinstance(tree, ast.Not):
            operand = self._expect(tree.operand, Kind.BOOLEAN, "'not'")
            return Typed(self.intern(plan.Not(operand.node)), Kind.BOOLEAN, operand.uses_position)
        operand_kind = Kind.BOOLEAN if isinstance(tree, ast.Logic) else Kind.NUMBER
        result_kind = Kind.NUMBER if isinstance(tree, ast.Arith) else Kind.BOOLEAN
        left = self._expect(tree.left, operand_kind, f"'{tree.op}'")
        right = self._expect(tree.right, operand_kind, f"'{tree.op}'")
        node = self.intern(plan.Binary(tree.op, left.node, right.node))
        return Typed(node, result_kind, left.uses_position or right.uses_position)

    def _expect(self, tree: ast.Expr, kind: Kind, where: str) -> Typed:
        typed = self.check(tree)
        if typed.kind is not kind:
            pos = ast.start(tree)
            article = _ARTICLE[kind]
            raise DslTypeError(
                f"{where} needs {article} here, not {_ARTICLE[typed.kind]}",
                line=pos.line,
                column=pos.column,
                expected=[article],
            )
        return typed

    def _name(self, tree: ast.Name) -> Typed:
        pos = tree.pos
        if tree.name in plan.SERIES_NAMES:
            return Typed(self.intern(plan.Input(tree.name)), Kind.NUMBER, False)
        if tree.name in plan.POSITION_NAMES:
            return Typed(self.intern(plan.PositionTerm(tree.name)), Kind.NUMBER, True)
        if tree.name in FUNCTIONS:
            raise DslTypeError(
                f"'{tree.name}' is a function: call it as {FUNCTIONS[tree.name].signature}",
                line=pos.line,
                column=pos.column,
                expected=[FUNCTIONS[tree.name].signature],
            )
        raise DslNameError(
            f"unknown name '{tree.name}'{_did_you_mean(tree.name, NAMES)}",
            line=pos.line,
            column=pos.column,
            expected=list(NAMES),
        )

    def _call(self, tree: ast.Call, *, member: ast.Member | None) -> Typed:
        spec = self._spec(tree)
        if len(tree.args) != len(spec.params):
            raise DslArityError(
                f"{tree.function}() takes {len(spec.params)} argument{'s' if len(spec.params) != 1 else ''} "
                f"({spec.signature}), {len(tree.args)} given",
                line=tree.pos.line,
                column=tree.pos.column,
                expected=[spec.signature],
            )
        output = self._output(tree, spec, member)
        sources: list[plan.Node] = []
        params: list[float] = []
        for arg, (name, param) in zip(tree.args, spec.params, strict=True):
            if param is Param.SERIES:
                sources.append(self._series_argument(tree.function, name, arg))
            else:
                params.append(_literal(tree.function, name, param, arg))
        if tree.function == "macd" and params[0] >= params[1]:
            pos = ast.start(tree.args[1])
            raise DslArgumentError(
                "macd's fast period must be shorter than its slow period",
                line=pos.line,
                column=pos.column,
                expected=[f"an integer below {int(params[1])}"],
            )
        if spec.returns is Kind.BOOLEAN:
            cross = plan.Cross(tree.function == "crosses_above", sources[0], sources[1])
            return Typed(self.intern(cross), Kind.BOOLEAN, False)
        raw = self.intern(plan.Raw(tree.function, sources[0] if sources else None, tuple(params)))
        return Typed(self.intern(plan.Indicator(raw, output)), Kind.NUMBER, False)

    def _spec(self, tree: ast.Call) -> FunctionSpec:
        spec = FUNCTIONS.get(tree.function)
        if spec is not None:
            return spec
        pos = tree.pos
        if tree.function in NAMES:
            raise DslTypeError(
                f"'{tree.function}' is a value, not a function",
                line=pos.line,
                column=pos.column,
                expected=[f"{tree.function} without parentheses"],
            )
        raise DslNameError(
            f"unknown function '{tree.function}'{_did_you_mean(tree.function, FUNCTIONS)}",
            line=pos.line,
            column=pos.column,
            expected=[spec.signature for spec in FUNCTIONS.values()],
        )

    def _output(self, tree: ast.Call, spec: FunctionSpec, member: ast.Member | None) -> str | None:
        if member is None:
            if spec.outputs:
                raise DslTypeError(
                    f"{tree.function}(...) has several lines: select one with "
                    + ", ".join(f".{o}" for o in spec.outputs),
                    line=tree.pos.line,
                    column=tree.pos.column,
                    expected=[f"{tree.function}(...).{o}" for o in spec.outputs],
                )
            return None
        if not spec.outputs:
            raise DslTypeError(
                f"{tree.function}(...) has a single value; '.{member.member}' does not apply",
                line=member.pos.line,
                column=member.pos.column,
                expected=[spec.signature],
            )
        if member.member not in spec.outputs:
            raise DslNameError(
                f"{tree.function}(...) has no line '{member.member}'"
                f"{_did_you_mean(member.member, spec.outputs)}",
                line=member.pos.line,
                column=member.pos.column,
                expected=list(spec.outputs),
            )
        return member.member

    def _series_argument(self, function: str, name: str, arg: ast.Expr) -> plan.Node:
        typed = self._expect(arg, Kind.NUMBER, f"{function}'s argument '{name}'")
        if typed.uses_position:
            pos = ast.start(arg)
            raise DslTypeError(
                f"position terms ({', '.join(plan.POSITION_NAMES)}) have no history and cannot be "
                f"used inside {function}(...)",
                line=pos.line,
                column=pos.column,
                expected=["an expression of candle series and indicators"],
            )
        return typed.node


def _number(tree: ast.Number) -> float:
    value = float(tree.text)
    if not math.isfinite(value):
        raise DslArgumentError(
            f"number {tree.text} is out of range",
            line=tree.pos.line,
            column=tree.pos.column,
            expected=["a finite number"],
        )
    return value


def _literal(function: str, name: str, param: Param, arg: ast.Expr) -> float:
    pos = ast.start(arg)
    if param is Param.WINDOW:
        wanted = f"a positive integer literal (1..{MAX_WINDOW})"
        ok = isinstance(arg, ast.Number) and _INTEGER.fullmatch(arg.text) and len(arg.text) <= 6
        value = int(arg.text) if ok and isinstance(arg, ast.Number) else 0
        if not 1 <= value <= MAX_WINDOW:
            raise DslArgumentError(
                f"{function}'s '{name}' must be {wanted}", line=pos.line, column=pos.column, expected=[wanted]
            )
        return float(value)
    wanted = "a positive number literal"
    value_f = _number(arg) if isinstance(arg, ast.Number) else 0.0
    if not value_f > 0:
        raise DslArgumentError(
            f"{function}'s '{name}' must be {wanted}", line=pos.line, column=pos.column, expected=[wanted]
        )
    return value_f


def _did_you_mean(word: str, choices: object) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1)  # type: ignore[call-overload]
    return f"; did you mean '{matches[0]}'?" if matches else ""


def check(tree: ast.Expr) -> Typed:
    """The boolean plan of a rule's syntax tree; raises DslError subclasses."""
    return Checker().rule(tree)


__all__ = ["FUNCTIONS", "MAX_WINDOW", "DslError", "Kind", "Typed", "check"]
