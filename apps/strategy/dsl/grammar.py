"""Parsing a rule's text into the syntax tree of `ast.py` with a LALR grammar (lark).

Nothing here evaluates text: lark tokenizes and parses, and `_build` maps the parse tree
onto frozen dataclasses. Every failure becomes a `DslError` with line, column and what the
parser would have accepted there."""

from __future__ import annotations

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from apps.strategy.dsl import ast
from apps.strategy.dsl.errors import DslSyntaxError, DslTooComplexError

MAX_RULE_LENGTH = 4000  # characters
MAX_DEPTH = 100  # nesting of the parse tree (a chain of n `and`s nests n deep)

GRAMMAR = r"""
?start: disjunction

?disjunction: conjunction
            | disjunction OR conjunction        -> logic
?conjunction: negation
            | conjunction AND negation          -> logic
?negation: comparison
         | NOT negation                         -> not_
?comparison: sum
           | sum COMP_OP sum                    -> compare
?sum: product
    | sum ADD_OP product                        -> arith
?product: unary
        | product MUL_OP unary                  -> arith
?unary: postfix
      | ADD_OP unary                            -> unary
?postfix: atom
        | postfix _DOT NAME                     -> member
?atom: NUMBER                                   -> number
     | NAME                                     -> name
     | NAME _LPAR [disjunction (_COMMA disjunction)*] _RPAR -> call
     | _LPAR disjunction _RPAR

OR: "or"
AND: "and"
NOT: "not"
COMP_OP: "<=" | ">=" | "==" | "!=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/"
_DOT: "."
_LPAR: "("
_RPAR: ")"
_COMMA: ","
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
COMMENT: /#[^\n]*/

%ignore /[ \t\r\n]+/
%ignore COMMENT
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

# How each terminal reads in "expected ..." lists.
TERMINAL_TEXT = {
    "OR": "'or'",
    "AND": "'and'",
    "NOT": "'not'",
    "COMP_OP": "a comparison (<, <=, >, >=, ==, !=)",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "_DOT": "'.'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_COMMA": "','",
    "NAME": "a name",
    "NUMBER": "a number",
    "$END": "the end of the rule",
}


def parse(text: str) -> ast.Expr:
    """The syntax tree of `text`; raises DslSyntaxError / DslTooComplexError."""
    if len(text) > MAX_RULE_LENGTH:
        raise DslTooComplexError(
            f"the rule is {len(text)} characters long; at most {MAX_RULE_LENGTH} are accepted",
            line=1,
            column=1,
        )
    if not text.strip():
        raise DslSyntaxError(
            "the rule is empty", line=1, column=1, expected=["an expression, e.g. rsi(close, 14) < 30"]
        )
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except LarkError as exc:  # anything else lark may raise is still a syntax problem
        raise DslSyntaxError(f"cannot parse the rule: {exc}", line=1, column=1) from None
    _check_depth(tree)
    return _build(tree)


def _describe(terminals: set[str] | frozenset[str]) -> list[str]:
    return sorted({TERMINAL_TEXT.get(name, name) for name in terminals})


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _syntax_error(text: str, exc: UnexpectedInput) -> DslSyntaxError:
    line, column = getattr(exc, "line", -1), getattr(exc, "column", -1)
    if isinstance(exc, UnexpectedCharacters):
        index = exc.pos_in_stream if exc.pos_in_stream is not None else -1
        char = text[index] if 0 <= index < len(text) else "?"
        accepted = _accepted_before(text, index)
        return DslSyntaxError(
            f"unexpected character {char!r}",
            line=line,
            column=column,
            expected=_describe(accepted or exc.allowed),
        )
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    stop = token.start_pos if token is not None and token.type != "$END" else None
    accepted = _accepted_before(text, stop)
    expected = _describe(accepted or getattr(exc, "expected", None) or set())
    if token is None or token.type == "$END":
        end_line, end_column = _end_position(text)
        return DslSyntaxError(
            "unexpected end of the rule", line=end_line, column=end_column, expected=expected
        )
    shown = repr(str(token))
    if line is None or line < 1:
        line, column = _end_position(text)
    return DslSyntaxError(f"unexpected {shown}", line=line, column=column, expected=expected)


def _accepted_before(text: str, stop: int | None) -> set[str] | None:
    """Every terminal the parser would accept right after the last good token (before `stop`,
    or the end of the text). LALR tables detect an error only after reducing as far as the
    bad token allows, so the parser's own `expected` can miss valid continuations (after
    `sma(close, 20` it would list only ')' ',' 'or'). Replaying the good tokens into an
    interactive parser and asking it gives the full set."""
    interactive = _PARSER.parse_interactive(text)
    try:
        for token in interactive.iter_parse():  # yields each token before feeding it
            if stop is not None and token.start_pos is not None and token.start_pos >= stop:
                break
    except LarkError:
        pass  # the lexer refused the bad token itself: every good token has been fed
    try:
        return set(interactive.accepts())
    except LarkError:
        return None


def _check_depth(tree: Tree[Token]) -> None:
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            pos = _pos(node)
            raise DslTooComplexError(
                f"the rule is nested more than {MAX_DEPTH} levels deep", line=pos.line, column=pos.column
            )
        if isinstance(node, Tree):
            stack.extend((child, depth + 1) for child in node.children)


def _pos(node: Tree[Token] | Token) -> ast.Pos:
    if isinstance(node, Token):
        return ast.Pos(node.line or 1, node.column or 1)
    meta = node.meta
    return ast.Pos(getattr(meta, "line", 1), getattr(meta, "column", 1))


def _token(node: Tree[Token] | Token) -> Token:
    if not isinstance(node, Token):  # the grammar puts tokens here; a tree means a grammar bug
        raise TypeError(f"expected a token, got {node!r}")
    return node


_BINARY: dict[str, type[ast.Arith] | type[ast.Compare] | type[ast.Logic]] = {
    "arith": ast.Arith,
    "compare": ast.Compare,
    "logic": ast.Logic,
}


def _build(node: Tree[Token] | Token) -> ast.Expr:  # noqa: PLR0911 - one branch per tree kind
    if isinstance(node, Token):  # bare tokens only appear under the aliases below
        raise TypeError(f"unexpected token {node!r} in the parse tree")
    kind, children = str(node.data), node.children
    if kind == "number":
        token = _token(children[0])
        return ast.Number(str(token), _pos(token))
    if kind == "name":
        token = _token(children[0])
        return ast.Name(str(token), _pos(token))
    if kind == "call":
        name = _token(children[0])
        return ast.Call(str(name), tuple(_build(c) for c in children[1:]), _pos(name))
    if kind == "member":
        member = _token(children[1])
        return ast.Member(_build(children[0]), str(member), _pos(member))
    if kind == "unary":
        op, operand = children
        inner = _build(operand)
        return inner if str(op) == "+" else ast.Negate(inner, _pos(op))
    if kind == "not_":
        op, operand = children
        return ast.Not(_build(operand), _pos(op))
    left, op, right = children
    return _BINARY[kind](str(_token(op)), _build(left), _build(right), _pos(op))
