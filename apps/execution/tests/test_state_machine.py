from __future__ import annotations

import itertools

import pytest
from django.db import connection

from apps.core.domain import OrderStatus
from apps.execution import services
from apps.execution.models import OrderEvent
from apps.execution.state_machine import TRANSITIONS, IllegalTransition, check_transition

from .factories import OrderFactory

ALL = list(OrderStatus)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, ALL)))
def test_only_the_table_allows_a_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_final_states_have_no_way_out() -> None:
    for status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
        assert TRANSITIONS[status] == frozenset()
    assert OrderStatus.CANCELED in TRANSITIONS[OrderStatus.PARTIALLY_FILLED]
    assert OrderStatus.EXPIRED in TRANSITIONS[OrderStatus.PARTIALLY_FILLED]


@pytest.mark.django_db
def test_illegal_transition_raises_and_leaves_no_trace() -> None:
    order = OrderFactory.create(status=OrderStatus.FILLED, version=3)
    events_before = OrderEvent.objects.filter(order=order).count()

    with pytest.raises(IllegalTransition) as info:
        services.transition_order(order_id=order.pk, target=OrderStatus.SUBMITTED)

    assert info.value.code == "illegal_transition"
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.FILLED, 3)
    assert OrderEvent.objects.filter(order=order).count() == events_before


@pytest.mark.django_db
def test_legal_transition_writes_its_event() -> None:
    order = OrderFactory.create(status=OrderStatus.SUBMITTED, version=0)

    services.transition_order(order_id=order.pk, target=OrderStatus.EXPIRED, payload={"why": "test"})

    order.refresh_from_db()
    event = OrderEvent.objects.get(order=order)
    assert (order.status, order.version) == (OrderStatus.EXPIRED, 1)
    assert (event.from_status, event.to_status, event.payload) == ("SUBMITTED", "EXPIRED", {"why": "test"})


@pytest.mark.django_db
def test_order_events_are_append_only_in_the_database() -> None:
    order = OrderFactory.create(status=OrderStatus.SUBMITTED)
    services.transition_order(order_id=order.pk, target=OrderStatus.CANCELED)
    event = OrderEvent.objects.get(order=order)

    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE execution_orderevent SET kind = 'x' WHERE id = %s", [event.pk])
