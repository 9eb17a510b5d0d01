"""Normalized strategy configurations: what a bot is told to do, as typed values.

Every config stored on a `Strategy`, run by the live engine or replayed by the backtester
is one of these frozen dataclasses, produced only by `parse_config` (which validates) and
serialized only by `config_to_json` (Decimals as strings, so it round-trips exactly).
Percent values are percents: 1.5 means 1.5 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from apps.core.errors import ErrorCode, ValidationFailed


class StrategyKind(StrEnum):
    DCA = "DCA"
    GRID = "GRID"
    SWING = "SWING"


@dataclass(frozen=True, slots=True)
class TakeProfitStep:
    """Sell `close_fraction` of the position at `pct` above the average entry price."""

    pct: Decimal
    close_fraction: Decimal


@dataclass(frozen=True, slots=True)
class DcaConfig:
    base_order_quote: Decimal
    safety_order_quote: Decimal
    max_safety_orders: int
    max_active_safety_orders: int
    price_deviation_pct: Decimal
    step_scale: Decimal
    volume_scale: Decimal
    take_profit: tuple[TakeProfitStep, ...]
    stop_loss_pct: Decimal | None = None
    move_to_breakeven: bool = False
    trailing_take_profit_pct: Decimal | None = None
    cooldown_bars: int = 0


class GridSpacing(StrEnum):
    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"


@dataclass(frozen=True, slots=True)
class GridConfig:
    lower_price: Decimal
    upper_price: Decimal
    levels: int
    spacing: GridSpacing
    quantity_per_level: Decimal | None = None
    total_investment_quote: Decimal | None = None
    trailing_up: bool = False
    trailing_down: bool = False
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None


class SizingMode(StrEnum):
    QUOTE = "quote"
    BASE = "base"


@dataclass(frozen=True, slots=True)
class SwingConfig:
    entry: str
    exit: str
    sizing_mode: SizingMode
    sizing_value: Decimal
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None


StrategyConfig = DcaConfig | GridConfig | SwingConfig


class ConfigError(TypedDict):
    path: str  # JSON path of the offending value, e.g. "$.take_profit[1].pct"
    code: str
    message: str
    # Swing rule errors only: where in the rule text (1-based) and what was accepted there.
    line: NotRequired[int]
    column: NotRequired[int]
    expected: NotRequired[list[str]]


class ConfigInvalid(ValidationFailed):
    """A config with one or more errors; all of them are in `errors` (and in the API body)."""

    default_code = ErrorCode.INVALID_CONFIG

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0] if errors else ConfigError(path="$", code="invalid", message="Invalid config.")
        super().__init__(
            f"{first['path']}: {first['message']}", field=first["path"], details={"errors": list(errors)}
        )
        self.errors = list(errors)


def parse_config(kind: StrategyKind, raw: Mapping[str, Any]) -> StrategyConfig:
    """Validate `raw` JSON for `kind`; raise ConfigInvalid with every error found."""
    from .config_parsing import parse  # noqa: PLC0415 - config_parsing imports this module

    return parse(StrategyKind(kind), raw)


def config_to_json(config: StrategyConfig) -> dict[str, Any]:
    """The JSON form of a config (Decimals as strings); `parse_config` reads it back equal."""
    from .config_parsing import to_json  # noqa: PLC0415

    return to_json(config)
