"""Shared domain types: order enums and a symbol's exchange filters.

`conform_to_filters` is the ONE place where a price and quantity are checked against (and
optionally snapped to) a symbol's filters. Live intake, strategies and the backtester all
call it, so an order the backtest accepts is an order the exchange accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

from django.db import models

from .decimals import ensure_storable, is_multiple_of, snap_down
from .errors import ErrorCode, ValidationFailed


class Side(models.TextChoices):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(models.TextChoices):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"

    @property
    def needs_price(self) -> bool:
        return self is not OrderType.MARKET


class TimeInForce(models.TextChoices):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(models.TextChoices):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_ORDER_STATUSES


FINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """A symbol's trading rules as the exchange publishes them (0 disables a bound)."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(0)
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    max_notional: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class ConformedOrder:
    quantity: Decimal
    price: Decimal | None


def conform_to_filters(
    filters: SymbolFilters,
    *,
    side: Side,
    quantity: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None = None,
    snap: bool = False,
) -> ConformedOrder:
    """Check (and with `snap=True` first round) an order against the symbol's filters.

    Snapping rounds quantity down to the step, and price to the tick in the direction
    that never worsens the order (buys down, sells up). Without snapping an off-grid value
    is an error: client input is taken as meant or refused, never silently changed.
    `reference_price` stands in for the price of a MARKET order in the notional check.
    A non-zero value that snaps to zero is an error.
    """
    ensure_storable(quantity, field="quantity")
    if quantity <= 0:
        raise ValidationFailed("quantity must be positive.", field="quantity")
    if price is not None:
        ensure_storable(price, field="price")
        if price <= 0:
            raise ValidationFailed("price must be positive.", field="price")

    if snap:
        quantity = snap_down(quantity, filters.step_size)
        if price is not None:
            price = _snap_price(price, filters.tick_size, side)
        if quantity <= 0:
            raise ValidationFailed(
                "quantity rounds to zero at the symbol's step size.",
                code=ErrorCode.FILTER_LOT_SIZE,
                field="quantity",
            )

    _check_lot_size(filters, quantity)
    if price is not None:
        _check_price(filters, price)
    notional_price = price if price is not None else reference_price
    if notional_price is not None:
        _check_notional(filters, quantity * notional_price)
    return ConformedOrder(quantity=quantity, price=price)


def _snap_price(price: Decimal, tick: Decimal, side: Side) -> Decimal:
    if tick <= 0:
        return price
    if side == Side.BUY:
        return snap_down(price, tick)
    return (price / tick).to_integral_value(ROUND_UP) * tick


def _check_lot_size(filters: SymbolFilters, quantity: Decimal) -> None:
    if not is_multiple_of(quantity, filters.step_size):
        raise ValidationFailed(
            f"quantity must be a multiple of the step size {filters.step_size}.",
            code=ErrorCode.FILTER_LOT_SIZE,
            field="quantity",
        )
    if filters.min_qty > 0 and quantity < filters.min_qty:
        raise ValidationFailed(
            f"quantity is below the minimum {filters.min_qty}.",
            code=ErrorCode.FILTER_LOT_SIZE,
            field="quantity",
        )
    if filters.max_qty > 0 and quantity > filters.max_qty:
        raise ValidationFailed(
            f"quantity is above the maximum {filters.max_qty}.",
            code=ErrorCode.FILTER_LOT_SIZE,
            field="quantity",
        )


def _check_price(filters: SymbolFilters, price: Decimal) -> None:
    if not is_multiple_of(price, filters.tick_size):
        raise ValidationFailed(
            f"price must be a multiple of the tick size {filters.tick_size}.",
            code=ErrorCode.FILTER_PRICE,
            field="price",
        )
    if filters.min_price > 0 and price < filters.min_price:
        raise ValidationFailed(
            f"price is below the minimum {filters.min_price}.", code=ErrorCode.FILTER_PRICE, field="price"
        )
    if filters.max_price > 0 and price > filters.max_price:
        raise ValidationFailed(
            f"price is above the maximum {filters.max_price}.", code=ErrorCode.FILTER_PRICE, field="price"
        )


def _check_notional(filters: SymbolFilters, notional: Decimal) -> None:
    if filters.min_notional > 0 and notional < filters.min_notional:
        raise ValidationFailed(
            f"order value {notional} is below the minimum notional {filters.min_notional}.",
            code=ErrorCode.FILTER_MIN_NOTIONAL,
            field="quantity",
        )
    if filters.max_notional > 0 and notional > filters.max_notional:
        raise ValidationFailed(
            f"order value {notional} is above the maximum notional {filters.max_notional}.",
            code=ErrorCode.FILTER_MAX_NOTIONAL,
            field="quantity",
        )
