"""Recording a state change: checked against the table, with its event, on a locked row."""

from __future__ import annotations

from typing import Any

from apps.core.domain import OrderStatus
from apps.execution import metrics
from apps.execution.models import Order, OrderEvent
from apps.execution.state_machine import check_transition


def lock_order(order_id: int) -> Order:
    """The order row, locked until the surrounding transaction ends (serializes updates)."""
    return Order.objects.select_for_update().get(pk=order_id)


def record_transition(
    order: Order,
    target: OrderStatus,
    *,
    kind: str = OrderEvent.Kind.TRANSITION,
    payload: dict[str, Any] | None = None,
    **changes: Any,
) -> None:
    """Move a locked order to `target`. Raises IllegalTransition before writing anything."""
    check_transition(order.status, target)
    OrderEvent.objects.create(
        order=order, kind=kind, from_status=order.status, to_status=target, payload=payload or {}
    )
    metrics.order_transitioned(from_status=order.status, to_status=target, created_at=order.created_at)
    order.status = target
    for name, value in changes.items():
        setattr(order, name, value)
    order.version += 1
    order.save()


def record_event(order: Order, kind: str, payload: dict[str, Any] | None = None) -> None:
    """An event that is not a transition (fill without status change, venue error, …)."""
    OrderEvent.objects.create(
        order=order, kind=kind, from_status=order.status, to_status=order.status, payload=payload or {}
    )
