"""Metrics on hand-computed series (docs/BACKTEST.md, "Metrics")."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtest.engine.metrics import (
    ZERO,
    _ratio,
    cagr,
    fees_paid,
    max_drawdown,
    sharpe,
    sortino,
    trade_pnls,
)
from apps.core.domain import Side
from apps.exchange.matching import Trade

from .helpers import FILTERS

DAY = 86_400_000


def test_max_drawdown_depth_and_duration_peak_to_recovery() -> None:
    values = np.array([100.0, 120.0, 90.0, 110.0, 121.0, 60.5])
    times = np.arange(6, dtype=np.int64) * DAY
    depth, days = max_drawdown(values, times)
    assert depth == pytest.approx(0.5)  # 121 -> 60.5, never recovered: to the end
    assert days == pytest.approx(1.0)
    depth, days = max_drawdown(values[:5], times[:5])
    assert depth == pytest.approx(0.25)  # 120 -> 90, recovered at 121 (day 4)
    assert days == pytest.approx(3.0)
    assert max_drawdown(np.array([1.0, 2.0, 3.0]), times[:3]) == (0.0, 0.0)


def test_sharpe_and_sortino_on_known_daily_returns() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0])
    mean = 0.005
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert sharpe(r) == pytest.approx(mean / sd * math.sqrt(365))
    downside = math.sqrt((0.02**2) / 4)
    assert sortino(r) == pytest.approx(mean / downside * math.sqrt(365))
    assert sortino(np.array([0.01, 0.02])) is None  # no losing day
    assert sharpe(np.array([0.01])) is None


def test_cagr_doubles_in_one_year() -> None:
    year = int(365.25 * DAY)
    assert cagr(Decimal(100), Decimal(200), year) == pytest.approx(1.0)
    assert cagr(Decimal(100), Decimal(400), 2 * year) == pytest.approx(1.0)
    assert cagr(Decimal(100), Decimal(0), year) is None


def _trade(n: int, side: Side, price: str, qty: str, fee: str, order: int) -> Trade:
    asset = "BTC" if side == Side.BUY else "USDT"
    quote = Decimal(price) * Decimal(qty)
    return Trade(
        "BTCUSDT",
        n,
        order,
        "a",
        f"c{order}",
        side,
        Decimal(price),
        Decimal(qty),
        quote,
        Decimal(fee),
        asset,
        True,
        n,
    )


def test_trade_pnl_fifo_with_fees_in_the_cost() -> None:
    trades = [
        _trade(1, Side.BUY, "100", "1", "0.001", 1),  # holds 0.999 for 100 -> unit cost 100.1001...
        _trade(2, Side.BUY, "90", "1", "0.001", 2),  # holds 0.999 for 90
        _trade(3, Side.SELL, "110", "0.999", "0.10989", 3),  # sells the first lot
        _trade(4, Side.SELL, "80", "0.999", "0.07992", 4),  # sells the second at a loss
    ]
    first, second = trade_pnls(trades, FILTERS)
    assert first == Decimal("109.89") - Decimal("0.10989") - Decimal("100")
    assert second == Decimal("79.92") - Decimal("0.07992") - Decimal("90")


def test_a_ratio_too_large_to_quantize_is_undefined_not_an_error() -> None:
    """A CAGR extrapolated from minutes of trading can reach 1e200 and more: reported as null
    (quantizing it raised decimal.InvalidOperation and failed the run)."""
    assert _ratio(1.05**9000) is None  # 1e190
    assert _ratio(-1e60) is None
    with localcontext(prec=60):  # compute_metrics' context
        assert _ratio(1e48) == Decimal("1e48")
    assert _ratio(0.25) == Decimal("0.2500000000")


def trade_pnls_by_defaultdict(trades: list[Trade], filters: Any) -> list[Decimal]:
    """The previous `trade_pnls`, verbatim: the oracle."""
    lots: deque[list[Decimal]] = deque()
    pnl: dict[int, Decimal] = defaultdict(Decimal)
    order: list[int] = []
    for trade in trades:
        fee_in_base = trade.commission if trade.commission_asset == filters.base_asset else ZERO
        fee_in_quote = trade.commission if trade.commission_asset == filters.quote_asset else ZERO
        if trade.side == Side.BUY:
            held = trade.quantity - fee_in_base
            if held > 0:
                lots.append([held, (trade.quote_quantity + fee_in_quote) / held])
            continue
        if trade.order_id not in pnl:
            order.append(trade.order_id)
        remaining = trade.quantity + fee_in_base
        cost = ZERO
        while remaining > 0 and lots:
            lot = lots[0]
            used = min(lot[0], remaining)
            cost += used * lot[1]
            lot[0] -= used
            remaining -= used
            if lot[0] <= 0:
                lots.popleft()
        pnl[trade.order_id] += trade.quote_quantity - fee_in_quote - cost
    return [pnl[k] for k in order]


@st.composite
def fills(draw: st.DrawFn) -> list[Trade]:
    """Buys and sells (several fills per sale order, sales beyond what is held, commissions
    in either asset or in neither), on a few order ids reused out of order."""
    out = []
    for n in range(draw(st.integers(0, 30))):
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        price = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2))
        qty = draw(st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("3"), places=5))
        fee = draw(st.sampled_from([ZERO, Decimal("0"), Decimal("0.00000100"), Decimal("0.0123")]))
        asset = draw(st.sampled_from(["BTC", "USDT", "BNB"]))
        order = draw(st.integers(1, 6))
        out.append(
            Trade("BTCUSDT", n, order, "a", f"c{order}", side, price, qty, price * qty, fee, asset, False, n)
        )
    return out


@settings(max_examples=1000, deadline=None)
@given(trades=fills(), precision=st.sampled_from([28, 60]))
def test_trade_pnls_is_the_defaultdict_one(trades: list[Trade], precision: int) -> None:
    with localcontext(prec=precision):
        ours, theirs = trade_pnls(trades, FILTERS), trade_pnls_by_defaultdict(trades, FILTERS)
    assert [p.as_tuple() for p in ours] == [p.as_tuple() for p in theirs]
    with localcontext(prec=precision):
        assert (
            fees_paid(trades, FILTERS).as_tuple()
            == sum(
                (t.commission * (t.price if t.commission_asset == FILTERS.base_asset else 1) for t in trades),
                ZERO,
            ).as_tuple()
        )


def max_drawdown_with_two_arrays(values: np.ndarray, times_ms: np.ndarray) -> tuple[float, float]:
    """The previous `max_drawdown`, verbatim: the oracle."""
    if len(values) == 0:
        return 0.0, 0.0
    peaks = np.maximum.accumulate(values)
    drawdowns = 1.0 - values / peaks
    trough = int(np.argmax(drawdowns))
    depth = float(drawdowns[trough])
    if depth <= 0:
        return 0.0, 0.0
    peak_index = int(np.flatnonzero(values[: trough + 1] == peaks[trough])[0])
    recovered = np.flatnonzero(values[trough:] >= peaks[trough])
    end_index = trough + int(recovered[0]) if len(recovered) else len(values) - 1
    return depth, float(times_ms[end_index] - times_ms[peak_index]) / 86_400_000


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(min_value=1e-3, max_value=1e9), max_size=200))
def test_max_drawdown_is_the_two_array_one(values: list[float]) -> None:
    series = np.asarray(values, dtype=np.float64)
    times = np.arange(len(values), dtype=np.int64) * 60_000
    assert max_drawdown(series, times) == max_drawdown_with_two_arrays(series, times)


def test_cagr_of_a_short_run_beyond_float_range_is_reported_null_not_raised() -> None:
    """Found by the batched-path property test: +2.8% over 20 one-minute candles."""
    growth = cagr(Decimal(1000), Decimal("1028.265706"), 1_200_000)

    assert growth == math.inf
    assert _ratio(growth) is None
    assert cagr(Decimal(1000), Decimal("971.734294"), 1_200_000) == -1.0  # underflows to 0
