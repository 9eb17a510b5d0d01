"""apply_fills: a burst of fills in one transaction gives the books one apply_fill per report
would give, whatever the split into batches, with duplicates, over-fills and concurrency."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderStatus
from apps.execution import services
from apps.execution.models import Fill, Order, OrderEvent, OutboxEvent
from apps.execution.services import FillOutcome, FillReport
from apps.execution.services import fills as fills_module

from .factories import AccountFactory, OrderFactory
from .test_fills import expected_state, fill_parts, report


def event_trail(order: Order) -> list[tuple[str, str, str]]:
    return list(OrderEvent.objects.filter(order=order).values_list("kind", "from_status", "to_status"))


def split(items: list[FillReport], cuts: list[int]) -> list[list[FillReport]]:
    bounds = [0, *sorted({c % (len(items) + 1) for c in cuts}), len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=fill_parts, other_parts=fill_parts, data=st.data())
def test_any_split_into_batches_gives_the_books_of_one_fill_at_a_time(
    parts: list[tuple[str, str]], other_parts: list[tuple[str, str]], data
) -> None:
    start = data.draw(st.sampled_from([OrderStatus.NEW, OrderStatus.SUBMITTED]), label="status")
    account = AccountFactory.create()
    totals = [sum((Decimal(q) for q, _ in p), Decimal(0)) for p in (parts, other_parts)]
    extra = data.draw(st.sampled_from([Decimal(0), Decimal("0.5")]), label="unfilled")
    orders = [OrderFactory.create(account=account, quantity=t + extra, status=start) for t in totals]
    reports = [report(orders[0], i + 1, q, p) for i, (q, p) in enumerate(parts)]
    reports += [report(orders[1], 100 + i, q, p) for i, (q, p) in enumerate(other_parts)]
    deliveries = data.draw(
        st.permutations(reports + data.draw(st.lists(st.sampled_from(reports), max_size=8)))
    )
    batches = split(deliveries, data.draw(st.lists(st.integers(0, 100), max_size=4), label="cuts"))

    outcomes = [r.outcome for batch in batches for r in services.apply_fills(reports=batch)]

    # The same deliveries one at a time, on twin orders of another account: the reference.
    twin_account = AccountFactory.create()
    twins = [OrderFactory.create(account=twin_account, quantity=o.quantity, status=start) for o in orders]
    twin_of = {o.pk: t.pk for o, t in zip(orders, twins, strict=True)}
    for r in deliveries:
        services.apply_fill(report=FillReport(**{**r.__dict__, "order_id": twin_of[r.order_id]}))

    assert outcomes.count(FillOutcome.APPLIED) == len(reports)
    assert outcomes.count(FillOutcome.DUPLICATE) == len(deliveries) - len(reports)
    for order, twin, order_parts in zip(orders, twins, (parts, other_parts), strict=True):
        order.refresh_from_db()
        twin.refresh_from_db()
        qty, quote, avg, status = expected_state(order_parts, order.quantity)
        assert (order.filled_quantity, order.cumulative_quote, order.average_fill_price) == (qty, quote, avg)
        assert order.status == status
        assert order.fees == {"BNB": str(Decimal("0.001") * len(order_parts))}
        assert (order.status, order.version, order.fees) == (twin.status, twin.version, twin.fees)
        assert event_trail(order) == event_trail(twin)
        assert Fill.objects.filter(order=order).count() == len(order_parts)
    events = OutboxEvent.objects.filter(event_type="fill.recorded", payload__account_id=account.pk)
    assert sorted(e.payload["exchange_fill_id"] for e in events) == sorted(
        r.exchange_fill_id for r in reports
    )


@pytest.mark.django_db
def test_duplicates_inside_one_batch_are_applied_once() -> None:
    order = OrderFactory.create(quantity=Decimal("1"))
    first, second = report(order, 1, "0.4"), report(order, 2, "0.6")

    results = services.apply_fills(reports=[first, first, second, first, second])

    assert [r.outcome for r in results] == [
        FillOutcome.APPLIED,
        FillOutcome.DUPLICATE,
        FillOutcome.APPLIED,
        FillOutcome.DUPLICATE,
        FillOutcome.DUPLICATE,
    ]
    assert [r.fill is not None for r in results] == [True, False, True, False, False]
    order.refresh_from_db()
    assert (order.filled_quantity, order.status) == (Decimal("1"), OrderStatus.FILLED)
    assert Fill.objects.filter(order=order).count() == 2
    assert OutboxEvent.objects.filter(payload__order_id=order.pk).count() == 2


@pytest.mark.django_db
def test_an_overfill_inside_a_batch_is_refused_and_recorded_while_the_rest_apply() -> None:
    order = OrderFactory.create(quantity=Decimal("1"))
    other = OrderFactory.create(account=order.account, quantity=Decimal("1"))
    services.apply_fill(report=report(order, 1, "0.4"))  # stored before the batch

    results = services.apply_fills(
        reports=[
            report(order, 2, "0.3"),
            report(order, 3, "0.5"),  # 0.7 + 0.5 > 1: refused
            report(other, 10, "0.5"),
            report(order, 1, "0.4"),  # stored: a duplicate, not an over-fill
            report(order, 4, "0.3"),  # fits: 0.7 + 0.3 = 1
        ]
    )

    assert [r.outcome for r in results] == [
        FillOutcome.APPLIED,
        FillOutcome.OVERFILL_REJECTED,
        FillOutcome.APPLIED,
        FillOutcome.DUPLICATE,
        FillOutcome.APPLIED,
    ]
    order.refresh_from_db()
    other.refresh_from_db()
    assert (order.filled_quantity, order.status) == (Decimal("1"), OrderStatus.FILLED)
    assert (other.filled_quantity, other.status) == (Decimal("0.5"), OrderStatus.PARTIALLY_FILLED)
    assert sorted(Fill.objects.filter(order=order).values_list("exchange_fill_id", flat=True)) == [1, 2, 4]
    refused = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.OVERFILL_REJECTED)
    assert Decimal(refused.payload.pop("filled_before")) == Decimal("0.7")
    assert refused.payload == {"exchange_fill_id": 3, "quantity": "0.5", "price": "30000.00"}
    assert OutboxEvent.objects.filter(payload__order_id=order.pk).count() == 3


@pytest.mark.django_db
def test_a_crash_after_the_inserts_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    order = OrderFactory.create(quantity=Decimal("1"), status=OrderStatus.NEW)

    def crash(**kwargs) -> None:
        raise RuntimeError("worker died after writing the fills, events and order")

    monkeypatch.setattr(fills_module, "emit_events", crash)
    with pytest.raises(RuntimeError):
        services.apply_fills(reports=[report(order, 1, "0.4"), report(order, 2, "0.6")])

    order.refresh_from_db()
    assert (order.filled_quantity, order.status, order.version) == (Decimal("0"), OrderStatus.NEW, 0)
    assert not Fill.objects.filter(order=order).exists()
    assert not OrderEvent.objects.filter(order=order).exists()
    assert not OutboxEvent.objects.filter(payload__order_id=order.pk).exists()


@pytest.mark.django_db
def test_late_fills_on_a_canceled_order_in_a_batch_keep_its_status() -> None:
    canceled = OrderFactory.create(quantity=Decimal("1"), status=OrderStatus.CANCELED)
    cancel_requested = OrderFactory.create(
        account=canceled.account, quantity=Decimal("1"), status=OrderStatus.CANCEL_REQUESTED
    )

    services.apply_fills(
        reports=[report(canceled, 1, "0.5"), report(cancel_requested, 2, "0.5"), report(canceled, 3, "0.5")]
    )

    canceled.refresh_from_db()
    cancel_requested.refresh_from_db()
    assert (canceled.status, canceled.filled_quantity) == (OrderStatus.CANCELED, Decimal("1"))
    assert cancel_requested.status == OrderStatus.CANCEL_REQUESTED
    services.apply_fills(reports=[report(cancel_requested, 4, "0.5")])
    cancel_requested.refresh_from_db()
    assert cancel_requested.status == OrderStatus.FILLED


@pytest.mark.django_db(transaction=True)
def test_two_batches_for_the_same_orders_at_once_neither_deadlock_nor_lose_or_double_a_fill() -> None:
    account = AccountFactory.create()
    orders = [OrderFactory.create(account=account, quantity=Decimal("100")) for _ in range(6)]
    # Both threads deliver every order's trades (overlapping), in opposite orders.
    trades = [report(o, 1000 * i + k, "0.5") for i, o in enumerate(orders) for k in range(10)]
    barrier = threading.Barrier(2)
    outcomes: list[FillOutcome] = []
    errors: list[BaseException] = []

    def deliver(reports: list[FillReport]) -> None:
        try:
            barrier.wait()
            for start in range(0, len(reports), 15):
                outcomes.extend(r.outcome for r in services.apply_fills(reports=reports[start : start + 15]))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deliver, args=(trades,)),
        threading.Thread(target=deliver, args=(trades[::-1],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert outcomes.count(FillOutcome.APPLIED) == len(trades)
    assert outcomes.count(FillOutcome.DUPLICATE) == len(trades)
    for order in orders:
        order.refresh_from_db()
        assert order.filled_quantity == Decimal("5")
        assert Fill.objects.filter(order=order).count() == 10
        assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.FILL).count() == 10
    assert OutboxEvent.objects.filter(
        event_type="fill.recorded", payload__account_id=account.pk
    ).count() == len(trades)


@pytest.mark.django_db
def test_a_batch_with_an_order_that_does_not_exist_writes_nothing() -> None:
    order = OrderFactory.create(quantity=Decimal("1"))
    missing = FillReport(**{**report(order, 2, "0.1").__dict__, "order_id": order.pk + 10_000})

    with pytest.raises(Order.DoesNotExist):
        services.apply_fills(reports=[report(order, 1, "0.1"), missing])

    assert not Fill.objects.filter(order=order).exists()
