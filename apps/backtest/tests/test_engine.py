"""The engine end to end on synthetic candles with the real DCA, Grid and Swing runtimes:
determinism (same inputs, same digest), sensitivity (any change shows in the digest),
equivalence of skipping with stepping every candle, and consistency of the results."""

from __future__ import annotations

import gc
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from apps.backtest.engine import BacktestSpec, simulate
from apps.backtest.engine import simulator as simulator_module
from apps.backtest.engine.scan import EVERY_CANDLE
from apps.exchange.matching import FeeSchedule
from apps.strategy import indicators
from apps.strategy.configs import StrategyKind, parse_config

from .helpers import FILTERS, synthetic

CONFIGS: dict[StrategyKind, dict[str, Any]] = {
    StrategyKind.DCA: {
        "base_order_quote": "100",
        "safety_order_quote": "100",
        "max_safety_orders": 4,
        "max_active_safety_orders": 2,
        "price_deviation_pct": "0.5",
        "step_scale": "1.2",
        "volume_scale": "1.5",
        "take_profit": [{"pct": "0.5", "close_fraction": "0.5"}, {"pct": "1", "close_fraction": "0.5"}],
        "stop_loss_pct": "5",
    },
    StrategyKind.GRID: {
        "lower_price": "27000",
        "upper_price": "33000",
        "levels": 31,
        "spacing": "geometric",
        "quantity_per_level": "0.002",
    },
    StrategyKind.SWING: {
        "entry": "crosses_above(sma(close, 20), sma(close, 50))",
        "exit": "crosses_below(sma(close, 20), sma(close, 50))",
        "sizing_mode": "quote",
        "sizing_value": "500",
        "stop_loss_pct": "1",
    },
}


def spec(kind: StrategyKind, *, taker: str = "0.001", slippage: str = "2") -> BacktestSpec:
    return BacktestSpec(
        kind=kind,
        config=parse_config(kind, CONFIGS[kind]),
        filters=FILTERS,
        interval="1m",
        fees=FeeSchedule(maker=Decimal("0.001"), taker=Decimal(taker)),
        slippage_bps=Decimal(slippage),
        initial_quote=Decimal("10000"),
    )


@pytest.fixture(scope="module")
def candles():
    return synthetic(6000, seed=7)


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_two_runs_have_the_same_digest_and_differ_when_an_input_does(kind, candles) -> None:
    first = simulate(spec(kind), candles)
    second = simulate(spec(kind), candles)
    assert len(first.trades) > 4, "the configuration must trade for this test to mean anything"
    assert first.result_digest == second.result_digest
    assert first.metrics == second.metrics
    assert simulate(spec(kind, taker="0.0011"), candles).result_digest != first.result_digest


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_skipping_candles_gives_the_same_result_as_stepping_every_candle(kind, candles, monkeypatch) -> None:
    skipped = simulate(spec(kind), candles)
    monkeypatch.setattr(simulator_module.Simulation, "_reach", lambda self: EVERY_CANDLE)
    if kind == StrategyKind.SWING:
        # Every candle through the runtime's own on_candle (its window, evaluate_latest): the
        # live path. The vectorized signals must decide exactly the same.
        monkeypatch.setattr(
            "apps.backtest.engine.runner.SwingSignals.applicable", staticmethod(lambda c: False)
        )
    stepped = simulate(spec(kind), candles)
    assert stepped.steps == len(candles)
    assert skipped.steps < len(candles) / 2
    assert stepped.result_digest == skipped.result_digest


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_final_equity_is_the_balances_marked_at_the_last_close(kind, candles) -> None:
    outcome = simulate(spec(kind), candles)
    base = sum(
        (t.quantity - (t.commission if t.commission_asset == "BTC" else 0)) * (1 if t.side == "BUY" else -1)
        for t in outcome.trades
    )
    quote = Decimal("10000") + sum(
        (-t.quote_quantity if t.side == "BUY" else t.quote_quantity - t.commission) for t in outcome.trades
    )
    last_close = Decimal(repr(float(candles.close[-1])))
    assert outcome.equity.points[-1].base == base
    assert outcome.equity.points[-1].quote == quote
    assert outcome.metrics.final_equity == (quote + base * last_close).quantize(Decimal("1e-8"))
    assert outcome.metrics.fills == len(outcome.trades)


def test_swing_warmup_candles_feed_the_rules_but_never_trade(candles) -> None:
    warmup = 300
    outcome = simulate(spec(StrategyKind.SWING), candles, warmup=warmup)
    fast, slow = indicators.sma(candles.close, 20), indicators.sma(candles.close, 50)
    crosses = np.flatnonzero(indicators.crosses_above(fast, slow))
    first_signal = int(crosses[crosses >= warmup][0])
    assert outcome.trades[0].time_ms == int(candles.open_time[first_signal + 1])
    assert outcome.candles == len(candles) - warmup
    assert outcome.equity.start_ms == int(candles.open_time[warmup])
    assert len(outcome.equity.per_candle) == len(candles) - warmup


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_for_the_run_and_restored_after(enabled: bool, reference: bool) -> None:
    """`simulate` holds the cyclic collector back while it runs (progress is reported from
    inside the loop) and leaves it as it found it, also when the run fails."""
    seen: list[bool] = []
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        outcome = simulate(
            spec(StrategyKind.SWING),
            synthetic(400),
            lambda done, total: seen.append(gc.isenabled()),
            reference=reference,
        )
        assert outcome.trades
        assert seen
        assert not any(seen)
        assert gc.isenabled() is enabled
        with pytest.raises(AttributeError):  # not candles: the run fails inside
            simulate(spec(StrategyKind.SWING), None, reference=reference)  # type: ignore[arg-type]
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
