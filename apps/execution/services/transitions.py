"""Recording a state change: checked against the table, with its event, on a locked row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.core.domain import OrderStatus
from apps.execution import metrics
from apps.execution.models import Order, OrderEvent
from apps.execution.state_machine import check_transition


def lock_order(order_id: int) -> Order:
    """The order row, locked until the surrounding transaction ends (serializes updates)."""
    return Order.objects.select_for_update().get(pk=order_id)


def lock_orders(order_ids: Iterable[int]) -> dict[int, Order]:
    """Several order rows locked in one statement, in id order: two transactions locking
    overlapping sets this way never deadlock. Raises Order.DoesNotExist if one is missing."""
    wanted = set(order_ids)
    orders = {o.pk: o for o in Order.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
    if len(orders) != len(wanted):
        raise Order.DoesNotExist(f"Order(s) {sorted(wanted - orders.keys())} do not exist.")
    return orders


def record_transition(
    order: Order,
    target: OrderStatus,
    *,
    kind: str = OrderEvent.Kind.TRANSITION,
    payload: dict[str, Any] | None = None,
    **changes: Any,
) -> None:
    """Move a locked order to `target`. Raises IllegalTransition before writing anything."""
    stage_transition(order, target, kind=kind, payload=payload).save()
    for name, value in changes.items():
        setattr(order, name, value)
    order.save()


def stage_transition(
    order: Order,
    target: OrderStatus,
    *,
    kind: str = OrderEvent.Kind.TRANSITION,
    payload: dict[str, Any] | None = None,
) -> OrderEvent:
    """A checked transition of a locked order, in memory only: the order's status and version
    change and its event is returned unsaved, so that a batch writes all of them in bulk
    (`apply_fills`). Raises IllegalTransition before changing anything."""
    check_transition(order.status, target)
    event = OrderEvent(
        order=order, kind=kind, from_status=order.status, to_status=target, payload=payload or {}
    )
    metrics.order_transitioned(from_status=order.status, to_status=target, created_at=order.created_at)
    order.status = target
    order.version += 1
    return event


def record_event(order: Order, kind: str, payload: dict[str, Any] | None = None) -> None:
    """An event that is not a transition (fill without status change, venue error, …)."""
    stage_event(order, kind, payload).save()


def stage_event(order: Order, kind: str, payload: dict[str, Any] | None = None) -> OrderEvent:
    """`record_event`'s event, unsaved (for a batch's bulk insert)."""
    return OrderEvent(
        order=order, kind=kind, from_status=order.status, to_status=order.status, payload=payload or {}
    )
