"""`BalanceHistory.balances_per_candle` repeats each recorded balance over its run of candles
instead of looking every candle up: the same float64 bytes as the look-up it replaced (kept
here as the oracle), for any number of candles and changes (first candle or not, repeated
indices, none at all)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtest.engine.simulator import BalanceHistory

AMOUNT = st.decimals(min_value=Decimal(0), max_value=Decimal("1e12"), places=18, allow_nan=False)


def per_candle_by_lookup(history: BalanceHistory) -> tuple[np.ndarray, np.ndarray]:
    """The previous implementation, verbatim: the oracle."""
    n = history.candles
    base = np.zeros(n)
    quote = np.full(n, float(history.initial_quote))
    if not history.change_index:
        return base, quote
    idx = np.asarray(history.change_index, dtype=np.int64)
    positions = np.searchsorted(idx, np.arange(n), side="right") - 1
    base_values = np.asarray([float(b) for b in history.change_base])
    quote_values = np.asarray([float(q) for q in history.change_quote])
    valid = positions >= 0
    base[valid] = base_values[positions[valid]]
    quote[valid] = quote_values[positions[valid]]
    return base, quote


@settings(max_examples=500, deadline=None)
@given(
    candles=st.integers(1, 300),
    data=st.data(),
    initial=AMOUNT,
)
def test_balances_per_candle_are_the_lookups(candles: int, data: st.DataObject, initial: Decimal) -> None:
    indices = sorted(data.draw(st.lists(st.integers(0, candles - 1), max_size=40)))
    history = BalanceHistory(
        initial_quote=initial,
        change_index=indices,
        change_base=[data.draw(AMOUNT) for _ in indices],
        change_quote=[data.draw(AMOUNT) for _ in indices],
        candles=candles,
    )
    base, quote = history.balances_per_candle()
    expected_base, expected_quote = per_candle_by_lookup(history)
    assert base.tobytes() == expected_base.tobytes()
    assert quote.tobytes() == expected_quote.tobytes()
