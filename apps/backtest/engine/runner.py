"""`simulate`: config + filters + candle arrays in, orders, fills, equity and metrics out.

Pure (no database): services.py loads the candles and stores what this returns, the command
and the benchmark call it directly. The strategy object is the live engine's own, built by
`apps.strategy.runtime.build_runtime`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from decimal import Decimal

from apps.candles.domain import CandleArrays
from apps.core.domain import SymbolFilters
from apps.exchange.matching import FeeSchedule, Order, Trade
from apps.strategy.configs import StrategyConfig, StrategyKind, SwingConfig
from apps.strategy.dsl import compile_rule
from apps.strategy.runtime import build_runtime

from . import fingerprint
from .broker import ACCOUNT, Rejection, SimulatedBroker
from .equity import EquityCurve, build_equity
from .metrics import Metrics, compute_metrics
from .signals import SwingSignals
from .simulator import BalanceHistory, Progress, Simulation, SimulationSettings
from .swing_batch import Ledger, SwingBatch

#: The strategy id inside a backtest: client order ids read "sbt-<seq>".
BACKTEST_STRATEGY_ID = "bt"


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    kind: StrategyKind
    config: StrategyConfig
    filters: SymbolFilters
    interval: str
    fees: FeeSchedule
    slippage_bps: Decimal
    initial_quote: Decimal


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    orders: list[Order]
    rejections: list[Rejection]
    trades: list[Trade]
    tags: dict[str, str]
    equity: EquityCurve
    metrics: Metrics
    result_digest: str
    steps: int
    candles: int


def simulate(
    spec: BacktestSpec,
    candles: CandleArrays,
    progress: Progress | None = None,
    *,
    warmup: int = 0,
    reference: bool = False,
) -> BacktestOutcome:
    """Run `spec` over `candles`. The first `warmup` candles are history only: a Swing rule's
    indicators read them (as the live runtime reads its recent candles), nothing trades on them
    and the results (equity, metrics) start after them.

    A Swing run whose rules read no position term takes the batched path (`swing_batch`),
    which gives byte-identical results faster; `reference=True` runs the general path (the
    live runtime through the matching engine) anyway.

    The cyclic garbage collector is paused for the run (and restored as it was): a run
    allocates tens of thousands of orders, fills and intents that form no reference cycles,
    and every ~700 allocations the collector would walk them again, with now and then a full
    pass over the whole process (a Django worker's ~135,000 objects: ~0.08 s per pass on 1M
    candles' Swing run). Reference counting frees everything as before; the collector's
    thresholds are per process, so this only holds the collector back for the run's length."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _simulate(spec, candles, progress, warmup=warmup, reference=reference)
    finally:
        if collecting:
            gc.enable()


def _simulate(
    spec: BacktestSpec, candles: CandleArrays, progress: Progress | None, *, warmup: int, reference: bool
) -> BacktestOutcome:
    signals = None
    if isinstance(spec.config, SwingConfig) and SwingSignals.applicable(spec.config):
        signals = SwingSignals.evaluate(spec.config, candles)
        if not reference:
            batch = SwingBatch(
                config=spec.config,
                filters=spec.filters,
                fees=spec.fees,
                slippage_bps=spec.slippage_bps,
                initial_quote=spec.initial_quote,
                strategy_id=BACKTEST_STRATEGY_ID,
                candles=candles,
                signals=signals,
                start=warmup,
            )
            return _finish(spec, candles, batch.run(progress), batch.ledger, warmup)
    history = candles.slice(0, warmup) if warmup else ()
    runtime = build_runtime(
        strategy_id=BACKTEST_STRATEGY_ID,
        kind=spec.kind,
        config=spec.config,
        filters=spec.filters,
        history=history,
    )
    broker = SimulatedBroker(
        runtime=runtime,
        filters=spec.filters,
        fees=spec.fees,
        slippage_bps=spec.slippage_bps,
        initial_quote=spec.initial_quote,
    )
    settings = SimulationSettings(
        interval=spec.interval,
        fees=spec.fees,
        slippage_bps=spec.slippage_bps,
        initial_quote=spec.initial_quote,
    )
    result = Simulation(
        runtime=runtime, broker=broker, candles=candles, settings=settings, signals=signals, start=warmup
    ).run(progress)
    orders = sorted(broker.engine.orders(ACCOUNT, spec.filters.symbol), key=lambda o: o.order_id)
    ledger = Ledger(orders=orders, rejections=broker.rejections, trades=broker.trades(), tags=broker.tags)
    return _finish(spec, candles, result, ledger, warmup)


def warmup_candles(spec: BacktestSpec) -> int:
    """Candles of history a run needs before its first traded candle (Swing rules' windows)."""
    if not isinstance(spec.config, SwingConfig):
        return 0
    rules = (compile_rule(spec.config.entry), compile_rule(spec.config.exit))
    return max(rule.recommended_history for rule in rules)


def _finish(
    spec: BacktestSpec, candles: CandleArrays, result: BalanceHistory, ledger: Ledger, warmup: int
) -> BacktestOutcome:
    """Equity, metrics and digest over the traded candles (the warm-up cut off)."""
    if warmup:
        result.change_index = [i - warmup for i in result.change_index]
        result.candles = len(candles) - warmup
        candles = candles.slice(warmup, len(candles))
    equity = build_equity(result, candles, spec.interval)
    metrics = compute_metrics(
        equity=equity,
        trades=ledger.trades,
        filters=spec.filters,
        initial_quote=spec.initial_quote,
    )
    digest = fingerprint.result_digest(ledger.orders, ledger.rejections, ledger.trades, ledger.tags)
    return BacktestOutcome(
        orders=ledger.orders,
        rejections=ledger.rejections,
        trades=ledger.trades,
        tags=ledger.tags,
        equity=equity,
        metrics=metrics,
        result_digest=digest,
        steps=result.steps,
        candles=result.candles,
    )
