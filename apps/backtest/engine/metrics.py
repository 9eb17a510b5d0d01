"""Backtest metrics (definitions in docs/BACKTEST.md, section "Metrics").

Money figures (final equity, net profit, fees, trade PnL) are exact Decimals from the fills.
Ratios computed from the equity series (drawdown, Sharpe, Sortino, CAGR, Calmar, exposure)
are float64 math, reported as Decimals rounded to 10 decimal places; None where undefined
(no losing day for Sortino, no drawdown for Calmar, fewer than two daily returns, ...).

A "trade" is one SELL order: its fills matched first-in-first-out against the base bought
earlier. Its PnL is what the sale brought in (net of its quote commission) minus what the
matched base cost (buy price x quantity, buy commissions folded into the unit cost). For a
Swing strategy that is the round trip; for DCA each take-profit step or exit; for a grid each
sell of a level.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from apps.core.domain import Side, SymbolFilters
from apps.exchange.matching import Trade

from .equity import EquityCurve

FloatArray = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365.0  # crypto trades every day
_YEAR_MS = 365.25 * 86_400_000
_RATIO = Decimal("1e-10")
_MONEY = Decimal("1e-8")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Metrics:
    initial_equity: Decimal
    final_equity: Decimal
    net_profit: Decimal
    total_return: Decimal
    cagr: Decimal | None
    max_drawdown: Decimal  # fraction of the peak, 0..1
    max_drawdown_duration_days: Decimal  # peak to recovery (or to the end if never recovered)
    sharpe: Decimal | None
    sortino: Decimal | None
    calmar: Decimal | None
    trades: int
    win_rate: Decimal | None
    expectancy: Decimal | None  # mean PnL per trade, quote
    profit_factor: Decimal | None
    gross_profit: Decimal
    gross_loss: Decimal
    exposure: Decimal  # fraction of candles closing with at least one step of base held
    fees_paid: Decimal  # quote; base commissions valued at their fill's price
    fills: int

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


#: Ratios at or beyond this are reported as undefined: quantized to 10 places they would not
#: fit the 60-digit context (a CAGR extrapolated from minutes of trading can reach 1e200).
_RATIO_LIMIT = 1e49


def _ratio(value: float | None) -> Decimal | None:
    if value is None or not math.isfinite(value) or abs(value) >= _RATIO_LIMIT:
        return None
    return Decimal(repr(float(value))).quantize(_RATIO)


def daily_returns(equity: EquityCurve) -> FloatArray:
    values = np.asarray([float(p.equity) for p in equity.points])
    if len(values) < 2:
        return np.empty(0)
    return values[1:] / values[:-1] - 1.0


def sharpe(returns: FloatArray) -> float | None:
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    return None if sd == 0 else float(np.mean(returns)) / sd * math.sqrt(DAYS_PER_YEAR)


def sortino(returns: FloatArray) -> float | None:
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return None if downside == 0 else float(np.mean(returns)) / downside * math.sqrt(DAYS_PER_YEAR)


def max_drawdown(values: FloatArray, times_ms: npt.NDArray[np.int64]) -> tuple[float, float]:
    """(largest fall from a running peak as a fraction of it, its duration in days: from the
    peak to the first time equity is back at it, or to the last time if it never is)."""
    if len(values) == 0:
        return 0.0, 0.0
    peaks = np.maximum.accumulate(values)
    drawdowns = values / peaks
    np.subtract(1.0, drawdowns, out=drawdowns)  # 1.0 - values / peaks, without a second array
    trough = int(np.argmax(drawdowns))
    depth = float(drawdowns[trough])
    if depth <= 0:
        return 0.0, 0.0
    peak_index = int(np.flatnonzero(values[: trough + 1] == peaks[trough])[0])
    recovered = np.flatnonzero(values[trough:] >= peaks[trough])
    end_index = trough + int(recovered[0]) if len(recovered) else len(values) - 1
    return depth, float(times_ms[end_index] - times_ms[peak_index]) / 86_400_000


def cagr(initial: Decimal, final: Decimal, span_ms: int) -> float | None:
    if span_ms <= 0 or initial <= 0 or final <= 0:
        return None
    years = span_ms / _YEAR_MS
    try:
        return float(final / initial) ** (1.0 / years) - 1.0
    except OverflowError:
        # A gain over minutes extrapolated to a year can pass float's range (2.8% in 20
        # minutes is e^733): infinite, reported null like any value from 1e49 on (`_ratio`).
        return math.inf


def trade_pnls(trades: list[Trade], filters: SymbolFilters) -> list[Decimal]:
    """PnL of each SELL order (in order of its first fill), FIFO against earlier buys.
    (The loop reads what it compares with into locals once: it runs per fill.)"""
    lots: deque[list[Decimal]] = deque()  # [quantity held, unit cost]
    pnl: dict[int, Decimal] = {}
    base_asset, quote_asset, buy = filters.base_asset, filters.quote_asset, Side.BUY
    for trade in trades:
        commission, asset = trade.commission, trade.commission_asset
        fee_in_base = commission if asset == base_asset else ZERO
        fee_in_quote = commission if asset == quote_asset else ZERO
        if trade.side == buy:
            held = trade.quantity - fee_in_base
            if held > ZERO:
                lots.append([held, (trade.quote_quantity + fee_in_quote) / held])
            continue
        remaining = trade.quantity + fee_in_base
        cost = ZERO
        while remaining > ZERO and lots:
            lot = lots[0]
            used = min(lot[0], remaining)
            cost += used * lot[1]
            lot[0] -= used
            remaining -= used
            if lot[0] <= ZERO:
                lots.popleft()
        # Keys in order of each sale's first fill (dicts keep insertion order); ZERO + x as
        # the defaultdict(Decimal) this replaces did (Decimal() is ZERO).
        order_id = trade.order_id
        pnl[order_id] = pnl.get(order_id, ZERO) + (trade.quote_quantity - fee_in_quote - cost)
    return list(pnl.values())


def fees_paid(trades: list[Trade], filters: SymbolFilters) -> Decimal:
    total = ZERO
    base_asset = filters.base_asset
    for trade in trades:
        total += trade.commission * (trade.price if trade.commission_asset == base_asset else 1)
    return total


def compute_metrics(
    *, equity: EquityCurve, trades: list[Trade], filters: SymbolFilters, initial_quote: Decimal
) -> Metrics:
    with localcontext() as ctx:
        ctx.prec = 60
        return _compute(equity, trades, filters, initial_quote)


def _compute(equity: EquityCurve, trades: list[Trade], filters: SymbolFilters, initial: Decimal) -> Metrics:
    final = equity.final
    values = np.concatenate(([float(initial)], equity.per_candle))
    times = np.concatenate(([equity.start_ms], equity.close_ms)).astype(np.int64, copy=False)
    depth, duration = max_drawdown(values, times)
    growth = cagr(initial, final, equity.end_ms - equity.start_ms + 1)
    returns = daily_returns(equity)
    pnls = trade_pnls(trades, filters)
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins, ZERO)
    gross_loss = -sum(losses, ZERO)
    step = float(filters.step_size) if filters.step_size > 0 else 0.0
    held = equity.base_per_candle >= step * (1 - 1e-9) if step > 0 else equity.base_per_candle > 0
    exposure = float(np.mean(held)) if len(held) else 0.0
    return Metrics(
        initial_equity=initial,
        final_equity=final.quantize(_MONEY),
        net_profit=(final - initial).quantize(_MONEY),
        total_return=((final / initial) - 1).quantize(_RATIO) if initial > 0 else ZERO,
        cagr=_ratio(growth),
        max_drawdown=_ratio(depth) or ZERO,
        max_drawdown_duration_days=_ratio(duration) or ZERO,
        sharpe=_ratio(sharpe(returns)),
        sortino=_ratio(sortino(returns)),
        calmar=_ratio(growth / depth) if growth is not None and depth > 0 else None,
        trades=len(pnls),
        win_rate=(Decimal(len(wins)) / len(pnls)).quantize(_RATIO) if pnls else None,
        expectancy=(sum(pnls, ZERO) / len(pnls)).quantize(_MONEY) if pnls else None,
        profit_factor=(gross_profit / gross_loss).quantize(_RATIO) if gross_loss > 0 else None,
        gross_profit=gross_profit.quantize(_MONEY),
        gross_loss=gross_loss.quantize(_MONEY),
        exposure=_ratio(exposure) or ZERO,
        fees_paid=fees_paid(trades, filters).quantize(_MONEY),
        fills=len(trades),
    )
