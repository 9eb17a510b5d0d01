"""Applying fills exactly once.

The order row is locked first, so every delivery of fills for one order (stream,
reconciliation, retries) is serialized; the fill's unique key (account, symbol, trade id)
then makes a duplicate a counted no-op (the insert skips a conflicting row: the check and
the insert are one statement). Quantities, average price and status follow from the
cumulative quantity, so the result does not depend on delivery order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum

from django.db import IntegrityError, connection, transaction
from prometheus_client import Counter

from apps.core.decimals import DECIMAL_PLACES
from apps.core.domain import OrderStatus
from apps.core.errors import Conflict, ErrorCode
from apps.execution.models import Fill, Order, OrderEvent

from .outbox import emit_event
from .transitions import lock_order, record_event, record_transition

logger = logging.getLogger(__name__)

FILLS_APPLIED = Counter("tradingbot_fills_applied_total", "Fills recorded")
FILLS_DUPLICATE = Counter("tradingbot_fills_duplicate_total", "Fill deliveries dropped as duplicates")
FILLS_OVERFILL = Counter("tradingbot_fills_overfill_total", "Fills refused because they would over-fill")

_PRICE_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
_OPEN_FOR_PARTIAL = (OrderStatus.SUBMITTED,)


class FillOutcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class FillReport:
    """One trade as the venue reports it (executionReport `t`, `l`, `L`, `Y`, `n`, `N`, `m`, `T`)."""

    order_id: int
    exchange_fill_id: int
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    executed_at: datetime
    commission: Decimal = Decimal(0)
    commission_asset: str = ""
    is_maker: bool = False


@dataclass(frozen=True)
class FillResult:
    outcome: FillOutcome
    order: Order
    fill: Fill | None


class OrderOverfilled(Conflict):
    default_code = ErrorCode.ORDER_OVERFILLED


def apply_fill(*, report: FillReport) -> FillResult:
    """Record a fill once; update the order from its fills; emit `fill.recorded`."""
    try:
        with transaction.atomic():
            order = lock_order(report.order_id)
            overfills = order.filled_quantity + report.quantity > order.quantity
            if overfills and not _is_stored(order, report):
                raise OrderOverfilled(
                    f"Fill {report.exchange_fill_id} would fill {order.filled_quantity + report.quantity} "
                    f"of an order for {order.quantity}.",
                    field="quantity",
                )
            fill = _new_fill(order, report)
            if overfills or not _insert_once(fill):
                FILLS_DUPLICATE.inc()
                return FillResult(FillOutcome.DUPLICATE, order, None)
            _update_order_from_fills(order, fill)
            emit_event(
                aggregate_type="account",
                aggregate_id=str(order.account_id),
                event_type="fill.recorded",
                payload=_fill_payload(order, fill),
            )
    except OrderOverfilled:
        _record_overfill(report)
        raise
    except IntegrityError:
        # The unique trade id is settled by the insert itself (a concurrent insert of the same
        # trade for another order of the account is waited for, then skipped). Any other
        # integrity error is counted as a dropped delivery, as it always was.
        FILLS_DUPLICATE.inc()
        return FillResult(FillOutcome.DUPLICATE, Order.objects.get(pk=report.order_id), None)
    FILLS_APPLIED.inc()
    return FillResult(FillOutcome.APPLIED, order, fill)


def _is_stored(order: Order, report: FillReport) -> bool:
    return Fill.objects.filter(
        account_id=order.account_id, symbol=order.symbol, exchange_fill_id=report.exchange_fill_id
    ).exists()


def _new_fill(order: Order, report: FillReport) -> Fill:
    return Fill(
        account_id=order.account_id,
        order=order,
        symbol=order.symbol,
        exchange_fill_id=report.exchange_fill_id,
        price=report.price,
        quantity=report.quantity,
        quote_quantity=report.quote_quantity,
        commission=report.commission,
        commission_asset=report.commission_asset,
        is_maker=report.is_maker,
        executed_at=report.executed_at,
    )


# The columns of the unique constraint execution_fill_exchange_id_uniq (PostgreSQL refuses an
# ON CONFLICT target that matches no unique index, so a change there fails loudly).
_DEDUP_COLUMNS = "account_id, symbol, exchange_fill_id"


def _insert_once(fill: Fill) -> bool:
    """`INSERT … ON CONFLICT (account, symbol, trade id) DO NOTHING RETURNING id`: the dedup
    check and the insert in one statement. False when the venue trade is already stored (for
    this order or another of the account); otherwise `fill` is saved and has its id."""
    meta = Fill._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(fill, add=True), connection) for f in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608 - model metadata
            f"ON CONFLICT ({_DEDUP_COLUMNS}) DO NOTHING RETURNING {quote(meta.pk.column)}",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    fill.pk = row[0]
    fill._state.adding = False
    fill._state.db = connection.alias
    return True


def _update_order_from_fills(order: Order, fill: Fill) -> None:
    # The order row is locked and the fill is new, so adding it to the stored totals is exact
    # (sums commute: any delivery order gives the same figures) and saves re-reading them.
    filled = order.filled_quantity + fill.quantity
    quote = order.cumulative_quote + fill.quote_quantity
    order.filled_quantity = filled
    order.cumulative_quote = quote
    order.average_fill_price = (quote / filled).quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    if fill.commission:
        fees = dict(order.fees)
        fees[fill.commission_asset] = str(Decimal(fees.get(fill.commission_asset, "0")) + fill.commission)
        order.fees = fees

    event = {
        "exchange_fill_id": fill.exchange_fill_id,
        "quantity": str(fill.quantity),
        "price": str(fill.price),
    }
    if order.status == OrderStatus.NEW:
        # The fill outran the venue's acknowledgement: the order evidently reached the venue.
        record_transition(order, OrderStatus.SUBMITTED, payload={"source": "fill_before_ack"})
    target = _status_from_quantity(order)
    if target is not None:
        record_transition(order, target, kind=OrderEvent.Kind.FILL, payload=event)
    else:
        order.version += 1
        order.save(
            update_fields=[
                "filled_quantity",
                "cumulative_quote",
                "average_fill_price",
                "fees",
                "version",
                "updated_at",
            ]
        )
        record_event(order, OrderEvent.Kind.FILL, event)


def _status_from_quantity(order: Order) -> OrderStatus | None:
    """The status the cumulative quantity implies, or None to keep the current one.

    A canceled or expired order keeps its final status when a late fill arrives; a
    CANCEL_REQUESTED order only leaves that state when fully filled.
    """
    if order.filled_quantity == order.quantity and order.status != OrderStatus.FILLED:
        if order.status in (
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.CANCEL_REQUESTED,
        ):
            return OrderStatus.FILLED
        return None
    if order.status in _OPEN_FOR_PARTIAL:
        return OrderStatus.PARTIALLY_FILLED
    return None


def _fill_payload(order: Order, fill: Fill) -> dict[str, object]:
    return {
        "fill_id": fill.pk,
        "order_id": order.pk,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "strategy_id": order.strategy_id,
        "symbol": fill.symbol,
        "side": order.side,
        "exchange_fill_id": fill.exchange_fill_id,
        "price": str(fill.price),
        "quantity": str(fill.quantity),
        "quote_quantity": str(fill.quote_quantity),
        "commission": str(fill.commission),
        "commission_asset": fill.commission_asset,
        "is_maker": fill.is_maker,
        "executed_at": fill.executed_at.isoformat(),
    }


def _record_overfill(report: FillReport) -> None:
    FILLS_OVERFILL.inc()
    logger.error(
        "over-fill refused: order %s trade %s qty %s",
        report.order_id,
        report.exchange_fill_id,
        report.quantity,
    )
    with transaction.atomic():
        order = lock_order(report.order_id)
        record_event(
            order,
            OrderEvent.Kind.OVERFILL_REJECTED,
            {
                "exchange_fill_id": report.exchange_fill_id,
                "quantity": str(report.quantity),
                "price": str(report.price),
                "filled_before": str(order.filled_quantity),
            },
        )
