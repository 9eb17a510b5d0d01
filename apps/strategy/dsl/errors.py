"""Errors of the Swing DSL: every one carries a stable code, the position in the rule text
(1-based line and column) and what would have been accepted there, so that an editor can
point at the mistake and the API can return it under the config field's JSON path."""

from __future__ import annotations

from typing import Any

from apps.core.errors import ErrorCode, ValidationFailed


class DslError(ValidationFailed):
    """Base of every DSL error. `reason` is the description alone; `message` adds the position."""

    default_code = ErrorCode.DSL_SYNTAX_ERROR

    def __init__(
        self,
        reason: str,
        *,
        line: int,
        column: int,
        expected: list[str] | None = None,
        code: ErrorCode | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.expected = list(expected or [])
        message = f"{reason} (line {line}, column {column})"
        super().__init__(
            message,
            code=code,
            field=field,
            details={"line": line, "column": column, "expected": self.expected},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "expected": self.expected,
        }


class DslSyntaxError(DslError):
    """The text is not a sentence of the grammar (or is empty)."""

    default_code = ErrorCode.DSL_SYNTAX_ERROR


class DslNameError(DslError):
    """An unknown series, position term, function or output (`.upper` of a macd)."""

    default_code = ErrorCode.DSL_UNKNOWN_NAME


class DslArityError(DslError):
    """A function called with the wrong number of arguments."""

    default_code = ErrorCode.DSL_ARITY


class DslTypeError(DslError):
    """A boolean where a number is needed or the reverse, a multi-line indicator without its
    output selected, a position term inside a window function, a rule that is not boolean."""

    default_code = ErrorCode.DSL_TYPE_ERROR


class DslArgumentError(DslError):
    """An argument that must be a literal is not one, or is out of range (windows, bbands k,
    macd fast < slow)."""

    default_code = ErrorCode.DSL_INVALID_ARGUMENT


class DslTooComplexError(DslError):
    """The rule is longer or nested deeper than the engine accepts."""

    default_code = ErrorCode.DSL_TOO_COMPLEX
