"""Swing rules evaluated once, vectorized over the whole candle series.

The entry and exit rules are compiled DSL rules (`apps.strategy.dsl`); their vectorized
evaluation gives the same boolean at each candle as the live runtime's `evaluate_latest` on
its window (window-only rules bit for bit; recursive indicators to ~1e-9 relative, see
`CompiledRule.recommended_history`). The runtime then gets each needed candle through
`SwingRuntime.on_candle_with_signals`, so the decisions (sizing, stops, order intents) are
the live runtime's own code.

Which candles are needed: while flat, those whose entry signal is set; while long, those
whose exit signal is set or whose close is at or beyond the stop loss / take profit. That is
exact only when neither rule reads position terms (entry_price, pnl_pct, bars_in_trade): those
depend on the path, so such rules are not vectorized (`SwingSignals.applicable` is False) and
the runtime is driven candle by candle through its own `on_candle`, like live.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from apps.candles.domain import CandleArrays
from apps.strategy.configs import SwingConfig
from apps.strategy.dsl import CompiledRule, Series, compile_rule
from apps.strategy.runtime.types import CandleBar, Intent, StrategyRuntime

from .scan import Watch

BoolArray = npt.NDArray[np.bool_]
_HUNDRED = Decimal(100)
_FLAT, _LONG = "flat", "long"


class SwingSignals:
    def __init__(self, entry: BoolArray, exit_: BoolArray, config: SwingConfig) -> None:
        self.entry = entry
        self.exit = exit_
        self.config = config

    @staticmethod
    def applicable(config: SwingConfig) -> bool:
        return not (compile_rule(config.entry).uses_position or compile_rule(config.exit).uses_position)

    @classmethod
    def evaluate(cls, config: SwingConfig, candles: CandleArrays) -> SwingSignals:
        series = Series(candles.open, candles.high, candles.low, candles.close, candles.volume)
        rules = (compile_rule(config.entry), compile_rule(config.exit))
        entry, exit_ = CompiledRule.evaluate_all(rules, series)
        return cls(
            np.ascontiguousarray(entry, dtype=np.bool_), np.ascontiguousarray(exit_, dtype=np.bool_), config
        )

    def step(self, runtime: StrategyRuntime, i: int, bar: CandleBar) -> list[Intent]:
        swing: Any = runtime
        result: list[Intent] = swing.on_candle_with_signals(
            bar, entry=bool(self.entry[i]), exit_=bool(self.exit[i])
        )
        return result

    def watch(self, runtime: object) -> Watch | None:
        """What the runtime must see next given its phase (its `phase` and `entry_price`:
        a SwingRuntime, or the batched path's trader); None = every candle."""
        phase = getattr(runtime, "phase", None)
        if phase == _FLAT:
            return Watch(signal=self.entry)
        if phase != _LONG:
            return None
        entry_price: Decimal | None = getattr(runtime, "entry_price", None)
        if entry_price is None:
            return None
        low = high = None
        if self.config.stop_loss_pct is not None:
            low = entry_price * (1 - self.config.stop_loss_pct / _HUNDRED)
        if self.config.take_profit_pct is not None:
            high = entry_price * (1 + self.config.take_profit_pct / _HUNDRED)
        return Watch(low=low, high=high, signal=self.exit)
