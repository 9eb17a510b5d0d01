"""The strategy runtime shared by the live engine and the backtester (docs/RUNTIME.md)."""

from apps.strategy.runtime.base import DECIMAL_CONTEXT, OrderRecord, conform
from apps.strategy.runtime.build import build_runtime
from apps.strategy.runtime.dca import DcaRuntime, Deal
from apps.strategy.runtime.grid import GridLevels, GridRuntime
from apps.strategy.runtime.swing import SwingHistory, SwingRuntime
from apps.strategy.runtime.types import (
    CancelIntent,
    CandleBar,
    FillReport,
    Intent,
    OrderUpdate,
    PlaceIntent,
    QuietBand,
    StrategyRuntime,
)

__all__ = [
    "DECIMAL_CONTEXT",
    "CancelIntent",
    "CandleBar",
    "DcaRuntime",
    "Deal",
    "FillReport",
    "GridLevels",
    "GridRuntime",
    "Intent",
    "OrderRecord",
    "OrderUpdate",
    "PlaceIntent",
    "QuietBand",
    "StrategyRuntime",
    "SwingHistory",
    "SwingRuntime",
    "build_runtime",
    "conform",
]
