"""The syntax tree of a rule, as written (before names and types are checked).

Every node knows where it starts in the text (1-based line and column) so that validation
errors point at the exact argument or name at fault."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Number:
    text: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Member:
    target: Expr
    member: str
    pos: Pos  # of the member name, after the dot


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    pos: Pos  # of the operator


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # < <= > >= == !=
    left: Expr
    right: Expr
    pos: Pos  # of the operator


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # and / or
    left: Expr
    right: Expr
    pos: Pos  # of the operator


Expr = Number | Name | Call | Member | Negate | Arith | Compare | Not | Logic


def start(node: Expr) -> Pos:
    """Where the text of `node` begins (its leftmost token)."""
    while isinstance(node, Arith | Compare | Logic | Member):
        node = node.left if not isinstance(node, Member) else node.target
    return node.pos
