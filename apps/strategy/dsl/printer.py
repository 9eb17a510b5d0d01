"""The canonical text of a syntax tree: one space around operators, parentheses only where
precedence needs them. Parsing the canonical text gives the same tree back, so it is a
safe normalized form to store."""

from __future__ import annotations

from apps.strategy.dsl import ast

# Binding strength: higher binds tighter.
_LOGIC = {"or": 1, "and": 2}
_NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _ATOM = 3, 4, 5, 6, 7, 8


def _level(node: ast.Expr) -> int:
    if isinstance(node, ast.Logic):
        return _LOGIC[node.op]
    if isinstance(node, ast.Not):
        return _NOT
    if isinstance(node, ast.Compare):
        return _COMPARE
    if isinstance(node, ast.Arith):
        return _SUM if node.op in "+-" else _PRODUCT
    if isinstance(node, ast.Negate):
        return _UNARY
    return _ATOM


def _wrap(node: ast.Expr, minimum: int) -> str:
    text = to_text(node)
    return f"({text})" if _level(node) < minimum else text


def to_text(node: ast.Expr) -> str:  # noqa: PLR0911 - one branch per node kind
    if isinstance(node, ast.Number):
        return node.text
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.Call):
        return f"{node.function}({', '.join(to_text(arg) for arg in node.args)})"
    if isinstance(node, ast.Member):
        return f"{_wrap(node.target, _ATOM)}.{node.member}"
    if isinstance(node, ast.Negate):
        return f"-{_wrap(node.operand, _UNARY)}"
    if isinstance(node, ast.Not):
        return f"not {_wrap(node.operand, _NOT)}"
    level = _level(node)
    if isinstance(node, ast.Compare):  # comparisons do not chain: both sides bind tighter
        return f"{_wrap(node.left, level + 1)} {node.op} {_wrap(node.right, level + 1)}"
    return f"{_wrap(node.left, level)} {node.op} {_wrap(node.right, level + 1)}"
