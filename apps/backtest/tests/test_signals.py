"""Swing signals: both rules evaluated on one context (shared sub-expressions computed once)
give exactly what each rule gives alone."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.strategy import indicators
from apps.strategy.dsl import CompiledRule, Series, compile_rule, plan
from apps.strategy.tests.test_dsl_equivalence import RULES, candles


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(RULES, min_size=1, max_size=3), data=candles())
def test_rules_evaluated_together_equal_each_alone(texts, data) -> None:
    series, _ = data
    rules = tuple(compile_rule(text) for text in texts)
    together = CompiledRule.evaluate_all(rules, series)
    for rule, values in zip(rules, together, strict=True):
        alone = rule.evaluate_vectorized(series)
        assert values.dtype == np.bool_
        assert values.tolist() == alone.tolist(), rule.text


def test_a_shared_moving_average_is_computed_once(monkeypatch) -> None:
    calls: list[int] = []
    real = indicators.sma

    def counted(x: np.ndarray, n: int) -> np.ndarray:
        calls.append(n)
        return real(x, n)

    monkeypatch.setattr(indicators, "sma", counted)
    close = 100 + np.cumsum(np.random.default_rng(3).normal(0, 1, 500))
    series = Series(close, close + 1, close - 1, close, np.ones(500))
    entry = compile_rule("crosses_above(sma(close, 20), sma(close, 50))")
    exit_ = compile_rule("crosses_below(sma(close, 20), sma(close, 50))")
    entries, exits = CompiledRule.evaluate_all((entry, exit_), series)
    assert sorted(calls) == [20, 50]
    assert entries.any()
    assert exits.any()
    assert entries.tolist() == entry.evaluate_vectorized(series).tolist()


def test_position_columns_are_made_only_for_a_rule_that_reads_one(monkeypatch) -> None:
    """Flat position columns (NaN) are built lazily: none for position-free rules, and a rule
    reading one still gets exactly what it gets alone."""
    contexts: list[plan.Context] = []
    real_context = plan.Context

    def kept(*args: Any, **kwargs: Any) -> plan.Context:
        contexts.append(real_context(*args, **kwargs))
        return contexts[-1]

    monkeypatch.setattr(plan, "Context", kept)
    close = 100 + np.cumsum(np.random.default_rng(5).normal(0, 1, 300))
    series = Series(close, close + 1, close - 1, close, np.ones(300))
    free = compile_rule("crosses_above(sma(close, 5), sma(close, 20))")
    reading = compile_rule("pnl_pct > 1 or close > sma(close, 10)")

    CompiledRule.evaluate_all((free,), series)
    assert dict(contexts[-1].position) == {}
    (values,) = CompiledRule.evaluate_all((reading,), series)
    assert set(contexts[-1].position) == {"pnl_pct"}
    assert np.isnan(contexts[-1].position["pnl_pct"]).all()
    assert values.tolist() == reading.evaluate_vectorized(series).tolist()
