"""The orders a DCA deal or a grid consists of, rounded to the symbol's exchange filters.

Pure (no I/O): the preflight report shows these to the user before a bot starts, and the
runtimes place exactly these prices and quantities, so what was checked is what is sent.
Every rounding goes through `apps.core.domain.conform_to_filters` — the one place that snaps
and checks orders — first with the symbol's tick and step only (to get the rounded values
even when a bound then refuses them), then with every filter (to say why it would be
refused).

Conventions:
- DCA: the base order is a MARKET buy of `base_order_quote` at the entry price; safety
  order n (1-based) is a LIMIT buy at the cumulative deviation d·(1 + s + … + s^(n-1)) %
  below the entry, worth `safety_order_quote · volume_scale^(n-1)` quote.
- Grid: level prices run from `lower_price` to `upper_price` inclusive (arithmetic: equal
  differences; geometric: equal ratios) and are rounded DOWN to the tick (as a buy), so a
  level has one price whichever side rests on it. Every level trades the same base
  quantity: `quantity_per_level`, or `total_investment_quote` divided by the sum of the
  prices of every level but the top one (buying one quantity at each of them is the most
  the grid can spend). Levels that become equal after rounding collapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from apps.core.decimals import DECIMAL_PLACES, ensure_storable, snap_down
from apps.core.domain import Side, SymbolFilters, conform_to_filters
from apps.core.errors import ApplicationError

from .config_parsing import safety_deviations as cumulative_deviations
from .configs import DcaConfig, GridConfig, GridSpacing, SizingMode, SwingConfig

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
_STORABLE = Decimal(1).scaleb(-DECIMAL_PLACES)  # finest value NUMERIC(38, 18) holds


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order of a plan after rounding. `problem` is set when the exchange would refuse it."""

    role: str  # "base", "safety", "level" or "entry"
    index: int  # 0 for the base order; safety orders 1..n; grid levels 0..levels-1 from the bottom
    side: Side
    price: Decimal | None  # None: MARKET at the reference price
    quantity: Decimal
    notional: Decimal  # quote value: quantity * (price or the reference price)
    deviation_pct: Decimal | None = None  # DCA: distance below the entry price, in %
    problem: Problem | None = None

    @property
    def accepted(self) -> bool:
        return self.problem is None


def fit(value: Decimal) -> Decimal:
    """Trim a computed value to the precision a NUMERIC(38, 18) column (and the filters) take."""
    return snap_down(value, _STORABLE)


#: The last (filters, their tick and step alone): a Swing run sizes every entry with the same
#: filters, so the copy is made once, not per entry. One tuple, replaced whole.
_last_rounding_only: tuple[SymbolFilters, SymbolFilters] | None = None


def _rounding_only(filters: SymbolFilters) -> SymbolFilters:
    """`filters` with every bound disabled: the tick and step alone (for snapping)."""
    global _last_rounding_only  # noqa: PLW0603 - a one-entry cache
    last = _last_rounding_only
    if last is not None and last[0] is filters:
        return last[1]
    rounding_only = SymbolFilters(
        symbol=filters.symbol,
        base_asset=filters.base_asset,
        quote_asset=filters.quote_asset,
        tick_size=filters.tick_size,
        step_size=filters.step_size,
    )
    _last_rounding_only = (filters, rounding_only)
    return rounding_only


def conform(
    filters: SymbolFilters,
    *,
    side: Side,
    quantity: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None = None,
) -> tuple[Decimal, Decimal | None, Problem | None]:
    """Rounded (quantity, price) and the reason the exchange would refuse them, if any.

    A MARKET order (no price) that the filters accept is conformed in one pass: one
    `conform_to_filters(snap=True)` with every filter, plus the storability check the second
    pass would make of the rounded quantity. That is the two passes' answer: the first pass
    makes the same checks up to the rounding and the same rounding (the tick-and-step-only
    bounds are all off, and its multiple-of-step check is the one the full check makes
    first); the second makes the storability check, then the same lot-size and notional
    checks on the same value. Anything refused (or raising) takes the two passes, which say
    which rounded quantity and problem. apps/strategy/tests/test_plans_conform.py compares
    it with the two passes alone on random filters, quantities and references."""
    if price is None:
        try:
            single = conform_to_filters(
                filters,
                side=side,
                quantity=fit(quantity),
                price=None,
                reference_price=reference_price,
                snap=True,
            )
            ensure_storable(single.quantity, field="quantity")
        except (ApplicationError, ArithmeticError):
            pass  # the two passes below say which quantity and problem
        else:
            return single.quantity, None, None
    return conform_in_two_passes(
        filters, side=side, quantity=quantity, price=price, reference_price=reference_price
    )


def conform_in_two_passes(
    filters: SymbolFilters,
    *,
    side: Side,
    quantity: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None = None,
) -> tuple[Decimal, Decimal | None, Problem | None]:
    """`conform`'s general path: round with the tick and step only, then check the rounded
    order against every filter (which says which rounded quantity a refusal is about)."""
    rounding_only = _rounding_only(filters)
    price = fit(price) if price is not None else None
    try:
        rounded = conform_to_filters(
            rounding_only,
            side=side,
            quantity=fit(quantity),
            price=price,
            reference_price=reference_price,
            snap=True,
        )
    except ApplicationError as exc:
        return ZERO, price, Problem(str(exc.code), exc.message)
    try:
        conform_to_filters(
            filters,
            side=side,
            quantity=rounded.quantity,
            price=rounded.price,
            reference_price=reference_price,
        )
    except ApplicationError as exc:
        return rounded.quantity, rounded.price, Problem(str(exc.code), exc.message)
    return rounded.quantity, rounded.price, None


# ---- DCA ----


def safety_deviations(config: DcaConfig) -> list[Decimal]:
    """Cumulative distance below entry (in %) of safety orders 1..max_safety_orders."""
    return cumulative_deviations(config.price_deviation_pct, config.step_scale, config.max_safety_orders)


def dca_orders(config: DcaConfig, *, entry_price: Decimal, filters: SymbolFilters) -> list[PlannedOrder]:
    """The base order and every safety order of one full deal started at `entry_price`."""
    quantity, _, problem = conform(
        filters,
        side=Side.BUY,
        quantity=config.base_order_quote / entry_price,
        price=None,
        reference_price=entry_price,
    )
    orders = [
        PlannedOrder(
            role="base",
            index=0,
            side=Side.BUY,
            price=None,
            quantity=quantity,
            notional=quantity * entry_price,
            deviation_pct=ZERO,
            problem=problem,
        )
    ]
    quote = config.safety_order_quote
    for n, deviation in enumerate(safety_deviations(config), start=1):
        raw_price = entry_price * (HUNDRED - deviation) / HUNDRED
        quantity, price, problem = conform(
            filters, side=Side.BUY, quantity=quote / raw_price, price=raw_price
        )
        if price is not None and price <= 0:
            problem = Problem("filter_price", "the price rounds to zero at the symbol's tick size.")
        orders.append(
            PlannedOrder(
                role="safety",
                index=n,
                side=Side.BUY,
                price=price,
                quantity=quantity,
                notional=quantity * (price or ZERO),
                deviation_pct=deviation,
                problem=problem,
            )
        )
        quote *= config.volume_scale
    return orders


# ---- Grid ----


def grid_level_prices(config: GridConfig) -> list[Decimal]:
    """Unrounded level prices from the lower to the upper bound, both included."""
    steps = config.levels - 1
    lower, upper = config.lower_price, config.upper_price
    with localcontext() as ctx:
        ctx.prec = 34
        if config.spacing == GridSpacing.ARITHMETIC:
            gap = (upper - lower) / steps
            inner = [lower + gap * i for i in range(1, steps)]
        else:
            ratio = (upper / lower) ** (ONE / steps)
            inner = [lower * ratio**i for i in range(1, steps)]
    return [lower, *(fit(p) for p in inner), upper]


def grid_quantity(config: GridConfig, prices: list[Decimal]) -> Decimal:
    """Base quantity per level (before rounding to the step)."""
    if config.quantity_per_level is not None:
        return config.quantity_per_level
    assert config.total_investment_quote is not None  # noqa: S101 - parse_config guarantees one
    return config.total_investment_quote / sum(prices[:-1], ZERO)


def grid_orders(config: GridConfig, *, filters: SymbolFilters) -> list[PlannedOrder]:
    """Every level with its rounded price and quantity; collapsed levels carry a problem."""
    prices = grid_level_prices(config)
    quantity = grid_quantity(config, prices)
    orders: list[PlannedOrder] = []
    previous: Decimal | None = None
    for i, raw_price in enumerate(prices):
        qty, price, problem = conform(filters, side=Side.BUY, quantity=quantity, price=raw_price)
        if price is not None and price <= 0:
            problem = Problem("filter_price", "the price rounds to zero at the symbol's tick size.")
        elif price is not None and price == previous:
            problem = Problem(
                "level_collapsed", f"level {i} rounds to the same price as level {i - 1} ({price})."
            )
        previous = price
        notional = qty * (price or ZERO)
        orders.append(PlannedOrder("level", i, Side.BUY, price, qty, notional, problem=problem))
    return orders


# ---- Swing ----


def swing_entry_order(
    config: SwingConfig, *, reference_price: Decimal, filters: SymbolFilters
) -> PlannedOrder:
    """The MARKET buy a Swing entry would place at `reference_price`."""
    quantity, problem = swing_entry_quantity(config, reference_price=reference_price, filters=filters)
    return PlannedOrder("entry", 0, Side.BUY, None, quantity, quantity * reference_price, problem=problem)


def swing_entry_quantity(
    config: SwingConfig, *, reference_price: Decimal, filters: SymbolFilters
) -> tuple[Decimal, Problem | None]:
    """`swing_entry_order`'s quantity and problem alone: the runtime (and the backtester, once
    per entry) needs no PlannedOrder."""
    if config.sizing_mode == SizingMode.QUOTE:
        raw_quantity = config.sizing_value / reference_price
    else:
        raw_quantity = config.sizing_value
    quantity, _, problem = conform(
        filters, side=Side.BUY, quantity=raw_quantity, price=None, reference_price=reference_price
    )
    return quantity, problem
