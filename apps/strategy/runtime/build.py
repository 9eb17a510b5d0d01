"""`build_runtime`: the one way the live engine and the backtester get a strategy object."""

from __future__ import annotations

from typing import Any

from apps.core.domain import SymbolFilters
from apps.core.errors import ErrorCode, ValidationFailed
from apps.strategy.configs import DcaConfig, GridConfig, StrategyConfig, StrategyKind, SwingConfig

from .base import check_strategy_id
from .dca import DcaRuntime
from .grid import GridRuntime
from .swing import SwingHistory, SwingRuntime
from .types import StrategyRuntime

_CLASSES: dict[StrategyKind, tuple[type, type]] = {
    StrategyKind.DCA: (DcaConfig, DcaRuntime),
    StrategyKind.GRID: (GridConfig, GridRuntime),
    StrategyKind.SWING: (SwingConfig, SwingRuntime),
}


def build_runtime(
    *,
    strategy_id: int | str,
    kind: StrategyKind | str,
    config: StrategyConfig,
    filters: SymbolFilters,
    state: dict[str, Any] | None = None,
    history: SwingHistory = (),
) -> StrategyRuntime:
    """A runtime for `config`, fresh (state None) or continuing from a `snapshot()`.

    `history` (Swing only; ignored otherwise): recent closed candles, oldest first, as
    CandleBars or `apps.candles.domain.CandleArrays`; candles after the state's last
    processed one are ignored, and only the last `window_size` are kept.
    Raises ValidationFailed (code invalid_config) for a config of the wrong kind, a strategy
    id that cannot make a client order id, or a grid whose levels collapse at the tick size.
    """
    sid = check_strategy_id(strategy_id)
    strategy_kind = StrategyKind(kind)
    config_class, runtime_class = _CLASSES[strategy_kind]
    if not isinstance(config, config_class):
        raise ValidationFailed(
            f"a {strategy_kind} strategy needs a {config_class.__name__}, got {type(config).__name__}.",
            code=ErrorCode.INVALID_CONFIG,
        )
    if isinstance(config, SwingConfig):
        return SwingRuntime(strategy_id=sid, config=config, filters=filters, state=state, history=history)
    runtime: StrategyRuntime = runtime_class(strategy_id=sid, config=config, filters=filters, state=state)
    return runtime
