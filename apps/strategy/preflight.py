"""The preflight report: what a config would actually place, checked against the exchange.

Shown by `validate/` and required clean by `start`: every order of a full DCA deal, every grid
level, each after rounding to the symbol's filters, the capital the bot can commit, and
every order the exchange would refuse. The report is computed from the plans in `plans.py`,
the same ones the runtimes place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from apps.candles import selectors as candle_selectors
from apps.core.domain import SymbolFilters
from apps.exchange import selectors as exchange_selectors

from .config_parsing import decimal_text
from .configs import DcaConfig, GridConfig, StrategyConfig, SwingConfig
from .plans import HUNDRED, ONE, ZERO, PlannedOrder, Problem, dca_orders, grid_orders, swing_entry_order

DEFAULT_EXCHANGE = "binance"


@dataclass(frozen=True)
class PreflightReport:
    symbol: str
    reference_price: Decimal | None
    reference_source: str  # "request", "candle" or "" when none was available
    orders: tuple[PlannedOrder, ...] = ()
    total_capital_quote: Decimal = ZERO
    summary: dict[str, Decimal | None] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()  # why the report is incomplete (unknown symbol, no price)
    filters: SymbolFilters | None = None

    @property
    def rejected(self) -> tuple[PlannedOrder, ...]:
        return tuple(o for o in self.orders if not o.accepted)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rejected


def preflight(
    config: StrategyConfig,
    *,
    symbol: str,
    interval: str,
    reference_price: Decimal | None = None,
    exchange: str = DEFAULT_EXCHANGE,
    now: datetime | None = None,
) -> PreflightReport:
    """Check `config` for `symbol` against the exchange filters at a reference price.

    The reference price is the explicit one, else the close of the latest closed candle of
    (symbol, interval). DCA and Swing need it (orders are sized from the entry price); a grid
    does not (its prices are in the config).
    """
    filters = exchange_selectors.get_symbol_filters(exchange=exchange, symbol=symbol)
    source = "request" if reference_price is not None else ""
    if reference_price is None:
        candle = candle_selectors.latest_closed_candle(symbol=symbol, interval=interval, now=now)
        if candle is not None:
            reference_price, source = candle.close, "candle"
    base = PreflightReport(
        symbol=symbol, reference_price=reference_price, reference_source=source, filters=filters
    )
    if filters is None:
        return _incomplete(
            base, Problem("unknown_symbol", f"{exchange} does not trade {symbol} (or it is not synced).")
        )
    if isinstance(config, GridConfig):
        return _grid_report(base, config, filters)
    if reference_price is None:
        return _incomplete(
            base,
            Problem("no_reference_price", f"no closed {interval} candle of {symbol}; give reference_price."),
        )
    if isinstance(config, DcaConfig):
        return _dca_report(base, config, filters, reference_price)
    return _swing_report(base, config, filters, reference_price)


def _incomplete(base: PreflightReport, problem: Problem) -> PreflightReport:
    return PreflightReport(
        symbol=base.symbol,
        reference_price=base.reference_price,
        reference_source=base.reference_source,
        problems=(problem,),
        filters=base.filters,
    )


def _complete(
    base: PreflightReport, orders: list[PlannedOrder], capital: Decimal, summary: dict[str, Decimal | None]
) -> PreflightReport:
    return PreflightReport(
        symbol=base.symbol,
        reference_price=base.reference_price,
        reference_source=base.reference_source,
        orders=tuple(orders),
        total_capital_quote=capital,
        summary=summary,
        filters=base.filters,
    )


def _dca_report(
    base: PreflightReport, config: DcaConfig, filters: SymbolFilters, entry: Decimal
) -> PreflightReport:
    orders = dca_orders(config, entry_price=entry, filters=filters)
    capital = sum((o.notional for o in orders), ZERO)
    quantity = sum((o.quantity for o in orders), ZERO)
    deepest = orders[-1]
    lowest = deepest.price if deepest.price is not None else entry
    average = capital / quantity if quantity > 0 else None
    first_tp = config.take_profit[0].pct
    target = average * (HUNDRED + first_tp) / HUNDRED if average is not None else None
    summary: dict[str, Decimal | None] = {
        # the deviation the safety orders cover, as configured and as rounded to the tick
        "max_deviation_pct": deepest.deviation_pct,
        "max_deviation_pct_rounded": (entry - lowest) / entry * HUNDRED,
        "lowest_price": lowest,
        "average_entry_at_full_deal": average,
        "take_profit_price_at_full_deal": target,
        # how far price must rebound from the lowest safety order to reach that first target
        "rebound_to_take_profit_pct": (target / lowest - ONE) * HUNDRED if target is not None else None,
    }
    if config.stop_loss_pct is not None and average is not None:
        summary["stop_loss_price_at_full_deal"] = average * (HUNDRED - config.stop_loss_pct) / HUNDRED
    return _complete(base, orders, capital, summary)


def _grid_report(base: PreflightReport, config: GridConfig, filters: SymbolFilters) -> PreflightReport:
    orders = grid_orders(config, filters=filters)
    # Buying one quantity at every level but the top is the most the grid can hold.
    capital = sum((o.notional for o in orders[:-1]), ZERO)
    prices = [o.price for o in orders if o.price is not None and o.price > 0]
    gaps = [(b / a - ONE) * HUNDRED for a, b in pairwise(prices) if b > a]
    summary: dict[str, Decimal | None] = {
        "quantity_per_level": orders[0].quantity,
        "min_step_pct": min(gaps) if gaps else None,
        "max_step_pct": max(gaps) if gaps else None,
        "collapsed_levels": Decimal(
            sum(1 for o in orders if o.problem and o.problem.code == "level_collapsed")
        ),
    }
    return _complete(base, orders, capital, summary)


def _swing_report(
    base: PreflightReport, config: SwingConfig, filters: SymbolFilters, price: Decimal
) -> PreflightReport:
    order = swing_entry_order(config, reference_price=price, filters=filters)
    return _complete(base, [order], order.notional, {})


# ---- JSON ----


_DISPLAY = Decimal("1e-12")


def _text(value: Decimal | None) -> str | None:
    """Exact values stay exact; long computed ratios are shown to 12 decimal places."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        value = value.quantize(_DISPLAY)
    return decimal_text(value)


def order_to_json(order: PlannedOrder) -> dict[str, Any]:
    return {
        "role": order.role,
        "index": order.index,
        "side": str(order.side),
        "price": _text(order.price),
        "quantity": _text(order.quantity),
        "notional": _text(order.notional),
        "deviation_pct": _text(order.deviation_pct),
        "accepted": order.accepted,
        "problem": None
        if order.problem is None
        else {"code": order.problem.code, "message": order.problem.message},
    }


def report_to_json(report: PreflightReport) -> dict[str, Any]:
    filters = report.filters
    return {
        "ok": report.ok,
        "symbol": report.symbol,
        "reference_price": _text(report.reference_price),
        "reference_source": report.reference_source,
        "filters": None
        if filters is None
        else {
            "tick_size": _text(filters.tick_size),
            "step_size": _text(filters.step_size),
            "min_qty": _text(filters.min_qty),
            "min_notional": _text(filters.min_notional),
        },
        "total_capital_quote": _text(report.total_capital_quote),
        "summary": {k: _text(v) for k, v in report.summary.items()},
        "orders": [order_to_json(o) for o in report.orders],
        "rejected": [order_to_json(o) for o in report.rejected],
        "problems": [{"code": p.code, "message": p.message} for p in report.problems],
    }
