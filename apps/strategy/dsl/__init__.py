"""The Swing rule language: `compile_rule(text)` → `CompiledRule` (see docs/DSL.md)."""

from apps.strategy.dsl.checker import FUNCTIONS, MAX_WINDOW
from apps.strategy.dsl.errors import (
    DslArgumentError,
    DslArityError,
    DslError,
    DslNameError,
    DslSyntaxError,
    DslTooComplexError,
    DslTypeError,
)
from apps.strategy.dsl.grammar import MAX_DEPTH, MAX_RULE_LENGTH
from apps.strategy.dsl.rule import (
    BoundRule,
    CompiledRule,
    PositionSeries,
    PositionState,
    Series,
    compile_rule,
)

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "MAX_WINDOW",
    "BoundRule",
    "CompiledRule",
    "DslArgumentError",
    "DslArityError",
    "DslError",
    "DslNameError",
    "DslSyntaxError",
    "DslTooComplexError",
    "DslTypeError",
    "PositionSeries",
    "PositionState",
    "Series",
    "compile_rule",
]
