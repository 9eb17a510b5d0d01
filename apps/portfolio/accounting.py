"""Average-cost accounting, pure (no database): what one fill does to a position.

The state is (signed quantity, signed cost basis, realized PnL). A buy adds to the quantity;
a sell subtracts. The part of a fill that moves the quantity away from zero opens: its
notional is added to the cost basis, so the average price is the quantity-weighted mean of
the opening fills. The part that moves the quantity towards zero closes: it removes the
proportional share of the cost basis and realizes `proceeds - cost removed`. A fill that
crosses zero first closes the whole position, then opens the remainder at the fill's price.

Cash moved is the fill's quote quantity (what the venue booked), split pro rata when a fill
both closes and opens. Divisions are rounded half-even to 18 places, but the cost removed is
exactly what leaves the cost basis, so `realized + (quantity * mark - cost_basis)` always
equals the cash flows plus `quantity * mark` to the last digit.

A commission paid in the base asset leaves the wallet like a sale: `apply_fill` applies the
fill, then disposes of the fee quantity at the fee's quote value (the fill's price), on a buy
as on a sell. The position then holds what the wallet holds, realized PnL stays the market
result (gross), and the fee's value is the separate fee figure, as for every other fee asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from apps.core.decimals import DECIMAL_PLACES
from apps.core.domain import Side

QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
ZERO = Decimal(0)
_PRECISION = 80  # far above NUMERIC(38, 18) products, so only the explicit rounding rounds


def q18(value: Decimal) -> Decimal:
    """Round to the stored precision (18 places, half-even)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class LotState:
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    @property
    def average_price(self) -> Decimal | None:
        if self.quantity == 0:
            return None
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return q18(self.cost_basis / self.quantity)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return q18(self.quantity * mark - self.cost_basis)


@dataclass(frozen=True, slots=True)
class TradeEffect:
    state: LotState
    realized_pnl: Decimal
    closed_quantity: Decimal
    opened_quantity: Decimal


def apply_trade(
    state: LotState, *, side: Side | str, quantity: Decimal, quote_quantity: Decimal
) -> TradeEffect:
    """The position after one fill of `quantity` for `quote_quantity` (both positive)."""
    if quantity <= 0:
        raise ValueError("a fill's quantity must be positive")
    if quote_quantity < 0:
        raise ValueError("a fill's quote quantity must not be negative")
    sign = Decimal(1) if Side(side) == Side.BUY else Decimal(-1)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        qty, cost, realized = state.quantity, state.cost_basis, state.realized_pnl
        closing = qty != 0 and (qty > 0) != (sign > 0)
        closed = min(quantity, abs(qty)) if closing else ZERO
        realized_delta = ZERO
        close_notional = ZERO
        if closed:
            removed = cost if closed == abs(qty) else q18(cost * closed / abs(qty))
            close_notional = quote_quantity if closed == quantity else q18(quote_quantity * closed / quantity)
            realized_delta = -sign * close_notional - removed
            cost -= removed
            qty += sign * closed
            realized += realized_delta
        opened = quantity - closed
        if opened:
            cost += sign * (quote_quantity - close_notional)
            qty += sign * opened
        if qty == 0:
            cost = ZERO
    return TradeEffect(
        state=LotState(quantity=qty, cost_basis=cost, realized_pnl=realized),
        realized_pnl=realized_delta,
        closed_quantity=closed,
        opened_quantity=opened,
    )


def apply_fill(
    state: LotState,
    *,
    side: Side | str,
    quantity: Decimal,
    quote_quantity: Decimal,
    base_fee: Decimal = ZERO,
    base_fee_value: Decimal = ZERO,
) -> TradeEffect:
    """One fill, then its base-asset commission (`base_fee`, worth `base_fee_value` in the quote
    asset) leaving the position as a sale at that value; both quantities positive or zero.

    The venue delivers `quantity - base_fee` on a buy and takes `quantity + base_fee` on a
    sell, so that is what the position moves by. The disposal realizes `base_fee_value -`
    its average cost like any sale, and the caller counts `base_fee_value` as a fee: net of
    fees, the commission costs exactly its share of the cost basis.
    """
    effect = apply_trade(state, side=side, quantity=quantity, quote_quantity=quote_quantity)
    if base_fee < 0 or base_fee_value < 0:
        raise ValueError("a base-asset fee and its value must not be negative")
    if not base_fee:
        return effect
    fee = apply_trade(effect.state, side=Side.SELL, quantity=base_fee, quote_quantity=base_fee_value)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return TradeEffect(
            state=fee.state,
            realized_pnl=effect.realized_pnl + fee.realized_pnl,
            closed_quantity=effect.closed_quantity + fee.closed_quantity,
            opened_quantity=effect.opened_quantity + fee.opened_quantity,
        )
