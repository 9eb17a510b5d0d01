"""Swing signals: both rules evaluated on one context (shared sub-expressions computed once)
give exactly what each rule gives alone."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.strategy import indicators
from apps.strategy.dsl import CompiledRule, Series, compile_rule
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
