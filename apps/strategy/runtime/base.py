"""What every runtime shares: client order ids, the strategy's own order book, quantization,
the intent buffer and the fixed Decimal context.

Orders are tracked from the intent until they are final. An order is final when its fills
add up to its quantity, or on a CANCELED / REJECTED / EXPIRED update (with whatever it had
filled until then). A FILLED update before the last fill is noted and the order stays open
until the fills arrive: quantities always come from the fills, never from a status.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal, localcontext
from typing import Any, Concatenate, ParamSpec, TypeVar

from apps.core.domain import ConformedOrder, OrderStatus, OrderType, Side, SymbolFilters, conform_to_filters
from apps.core.errors import ErrorCode, ValidationFailed

from .types import TERMINAL_UPDATES, CancelIntent, FillReport, Intent, OrderUpdate, PlaceIntent

ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: The storage precision (NUMERIC(38, 18)): values are cut to it before `conform_to_filters`.
_STORABLE = Decimal("1e-18")
#: One fixed arithmetic context, so results never depend on the caller's thread context.
DECIMAL_CONTEXT = Context(prec=40)
CLIENT_ID_MAX = 36
_STRATEGY_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,22}$")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="RuntimeBase")


def deterministic(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run a public method under DECIMAL_CONTEXT."""

    @functools.wraps(method)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(DECIMAL_CONTEXT):
            return method(self, *args, **kwargs)

    return wrapper


def pct(value: Decimal, percent: Decimal) -> Decimal:
    """`value` moved by `percent` percent (negative moves down)."""
    return value * (1 + percent / HUNDRED)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def opt_dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def conform(
    filters: SymbolFilters,
    side: Side,
    quantity: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None = None,
) -> ConformedOrder:
    """Quantize an order with the project's one helper, `conform_to_filters(snap=True)`.

    Values are first cut to the storage precision in the same direction the snap goes
    (quantity down; buy prices down, sell prices up), which cannot change the snapped result
    because every step and tick is a multiple of 1e-18. Raises ValidationFailed.
    """
    if quantity <= 0:
        raise ValidationFailed("quantity must be positive.", code=ErrorCode.FILTER_LOT_SIZE, field="quantity")
    quantity = quantity.quantize(_STORABLE, ROUND_DOWN)  # rounding by position: cheaper than by keyword
    if price is not None:
        price = price.quantize(_STORABLE, ROUND_DOWN if side == Side.BUY else ROUND_UP)
    return conform_to_filters(
        filters, side=side, quantity=quantity, price=price, reference_price=reference_price, snap=True
    )


def sellable_quantity(
    filters: SymbolFilters, quantity: Decimal, reference_price: Decimal | None
) -> Decimal | None:
    """The quantity a MARKET sell of `quantity` would carry, or None if it is dust (nothing
    the filters accept: below a step, the minimum quantity or the minimum notional)."""
    if quantity <= 0 or quantity < filters.step_size:
        return None  # below one step it snaps to zero: `conform` would refuse it (no exception)
    try:
        return conform(filters, Side.SELL, quantity, None, reference_price).quantity
    except ValidationFailed:
        return None


def check_strategy_id(strategy_id: int | str) -> str:
    """Client order ids are f"s{strategy_id}-{seq}": Binance allows 36 of [A-Za-z0-9_-]."""
    text = str(strategy_id)
    if not _STRATEGY_ID_RE.match(text):
        raise ValidationFailed(
            "strategy id must be 1-22 of A-Z a-z 0-9 _ (client order ids are s<id>-<seq>).",
            code=ErrorCode.INVALID_CONFIG,
            field="strategy_id",
        )
    return text


@dataclass(slots=True)
class OrderRecord:
    """One of the strategy's orders, from intent to final."""

    client_order_id: str
    role: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    level: int = 0
    filled: Decimal = ZERO
    quote: Decimal = ZERO
    base_fee: Decimal = ZERO
    cancel_requested: bool = False
    venue_filled: bool = False
    final_status: str = ""

    @property
    def complete(self) -> bool:
        return self.filled >= self.quantity

    @property
    def remaining(self) -> Decimal:
        return max(self.quantity - self.filled, ZERO)

    @property
    def net_base(self) -> Decimal:
        """Base received (buy) or given up (sell, negative), net of base-asset commissions."""
        sign = 1 if self.side == Side.BUY else -1
        return sign * self.filled - self.base_fee

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.client_order_id,
            "role": self.role,
            "side": str(self.side),
            "type": str(self.order_type),
            "qty": str(self.quantity),
            "price": opt_str(self.price),
            "level": self.level,
            "filled": str(self.filled),
            "quote": str(self.quote),
            "base_fee": str(self.base_fee),
            "cancel_requested": self.cancel_requested,
            "venue_filled": self.venue_filled,
            "final_status": self.final_status,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OrderRecord:
        return cls(
            client_order_id=raw["id"],
            role=raw["role"],
            side=Side(raw["side"]),
            order_type=OrderType(raw["type"]),
            quantity=dec(raw["qty"]),
            price=opt_dec(raw["price"]),
            level=int(raw["level"]),
            filled=dec(raw["filled"]),
            quote=dec(raw["quote"]),
            base_fee=dec(raw["base_fee"]),
            cancel_requested=bool(raw["cancel_requested"]),
            venue_filled=bool(raw["venue_filled"]),
            final_status=raw["final_status"],
        )


class RuntimeBase:
    """Order book, id sequence and event plumbing; subclasses implement the strategy.

    Subclass hooks: `_filled(order, fill)` after a fill is added to an open order,
    `_closed(order)` when an order becomes final, `_advance()` after every event to emit
    whatever the state now calls for. All three append intents through `_place`/`_cancel`.
    """

    kind = ""

    def __init__(self, *, strategy_id: str, filters: SymbolFilters) -> None:
        self.strategy_id = strategy_id
        self.filters = filters
        self.seq = 0
        self.orders: dict[str, OrderRecord] = {}
        self.ignored_fills = 0
        self._out: list[Intent] = []

    # -- the runtime interface ----------------------------------------------------------

    @deterministic
    def on_fill(self, fill: FillReport) -> list[Intent]:
        order = self.orders.get(fill.client_order_id)
        if order is None:
            # A fill after the order was final (or not ours): counted, never applied twice.
            self.ignored_fills += 1
            return []
        order.filled += fill.quantity
        order.quote += fill.price * fill.quantity
        if fill.commission_asset == self.filters.base_asset:
            order.base_fee += fill.commission
        self._filled(order, fill)
        if order.complete:
            self._close(order, str(OrderStatus.FILLED))
        self._advance()
        return self._flush()

    @deterministic
    def on_order_update(self, update: OrderUpdate) -> list[Intent]:
        order = self.orders.get(update.client_order_id)
        if order is None:
            return []
        if update.status in TERMINAL_UPDATES:
            self._close(order, str(update.status))
        elif update.status == OrderStatus.FILLED:
            order.venue_filled = True
            if order.complete:
                self._close(order, str(OrderStatus.FILLED))
        self._advance()
        return self._flush()

    @property
    def finished(self) -> bool:
        return False

    # -- helpers for subclasses ---------------------------------------------------------

    def _flush(self) -> list[Intent]:
        out, self._out = self._out, []
        return out

    def _close(self, order: OrderRecord, status: str) -> None:
        del self.orders[order.client_order_id]
        order.final_status = status
        self._closed(order)

    def _next_id(self) -> str:
        self.seq += 1
        return f"s{self.strategy_id}-{self.seq}"

    def _place(
        self,
        *,
        role: str,
        side: Side,
        order_type: OrderType,
        quantity: Decimal,
        price: Decimal | None,
        tag: str,
        reference_price: Decimal | None = None,
        level: int = 0,
    ) -> OrderRecord:
        """Quantize and emit an order; raises ValidationFailed if the filters refuse it."""
        conformed = conform(self.filters, side, quantity, price, reference_price)
        order = OrderRecord(
            client_order_id=self._next_id(),
            role=role,
            side=side,
            order_type=order_type,
            quantity=conformed.quantity,
            price=conformed.price,
            level=level,
        )
        self.orders[order.client_order_id] = order
        self._out.append(
            PlaceIntent(
                client_order_id=order.client_order_id,
                side=side,
                order_type=order_type,
                quantity=conformed.quantity,
                price=conformed.price,
                tag=tag,
            )
        )
        return order

    def _try_place(self, **kwargs: Any) -> OrderRecord | None:
        """`_place`, or None when the filters refuse the order (too small, out of range)."""
        try:
            return self._place(**kwargs)
        except ValidationFailed:
            return None

    def _cancel(self, order: OrderRecord, tag: str) -> None:
        if order.cancel_requested:
            return
        order.cancel_requested = True
        self._out.append(CancelIntent(client_order_id=order.client_order_id, tag=tag))

    def _open(self, role: str) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.role == role]

    def _cancel_all_but_exit(self, tag: str) -> None:
        for order in list(self.orders.values()):
            if order.role != "exit":
                self._cancel(order, tag)

    def _sell_all_at_market(self, quantity: Decimal, reference_price: Decimal | None, tag: str) -> bool:
        """Place the exit: a MARKET sell of `quantity`; False when only dust is left to sell."""
        sellable = sellable_quantity(self.filters, quantity, reference_price)
        if sellable is None:
            return False
        self._place(
            role="exit",
            side=Side.SELL,
            order_type=OrderType.MARKET,
            quantity=sellable,
            price=None,
            tag=tag,
            reference_price=reference_price,
        )
        return True

    def _base_state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": 1,
            "seq": self.seq,
            "ignored_fills": self.ignored_fills,
            "orders": [o.to_json() for o in self.orders.values()],
        }

    def _restore_base(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValidationFailed(
                f"state is for {state.get('kind')!r}, not {self.kind!r}.", code=ErrorCode.INVALID_CONFIG
            )
        self.seq = int(state["seq"])
        self.ignored_fills = int(state["ignored_fills"])
        self.orders = {}
        for raw in state["orders"]:
            order = OrderRecord.from_json(raw)
            self.orders[order.client_order_id] = order

    # -- hooks --------------------------------------------------------------------------

    def _filled(self, order: OrderRecord, fill: FillReport) -> None:
        """A fill was added to `order` (still in `self.orders`)."""

    def _closed(self, order: OrderRecord) -> None:
        """`order` became final and left `self.orders`."""

    def _advance(self) -> None:
        """Emit what the state now calls for; must be a no-op on a settled state."""
