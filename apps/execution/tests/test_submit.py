from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.core.errors import Conflict, ValidationFailed
from apps.exchange.errors import InvalidOrder, TemporaryVenueError
from apps.execution import gates, selectors, services, venues
from apps.execution.models import Order, OrderEvent
from apps.execution.services.orders import KillSwitchActive, RiskRejected, SubmissionPending

from .factories import AccountFactory, RecordingVenue, btcusdt

LIMIT_BUY: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "order_type": "LIMIT",
    "quantity": Decimal("0.001"),
    "price": Decimal("30000.00"),
}


@pytest.mark.django_db
def test_submit_persists_new_and_sending_records_submitted(venue: RecordingVenue, instrument) -> None:
    account = AccountFactory.create()
    outcome = services.submit_order(account=account, client_order_id="abc-1", **LIMIT_BUY)
    assert outcome.created
    assert outcome.order.status == OrderStatus.NEW

    order = services.send_order_to_exchange(order_id=outcome.order.pk)

    assert order.status == OrderStatus.SUBMITTED
    assert order.exchange_order_id == "1001"
    assert [r.client_order_id for r in venue.placed] == ["abc-1"]
    assert list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True)) == [
        "created",
        "submission_attempt",
        "transition",
    ]


@pytest.mark.django_db
def test_retry_with_same_client_order_id_returns_the_existing_order(instrument) -> None:
    account = AccountFactory.create()
    first = services.submit_order(account=account, client_order_id="same", **LIMIT_BUY)
    second = services.submit_order(account=account, client_order_id="same", **LIMIT_BUY)

    assert (first.created, second.created) == (True, False)
    assert first.order.pk == second.order.pk
    with pytest.raises(Conflict) as info:
        services.submit_order(
            account=account, client_order_id="same", **{**LIMIT_BUY, "quantity": Decimal("0.002")}
        )
    assert info.value.code == "client_order_id_conflict"


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_submitting_one_client_order_id_make_one_order_and_one_submission(
    venue: RecordingVenue,
) -> None:
    btcusdt()
    account = AccountFactory.create()
    barrier = threading.Barrier(20)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit_and_send() -> None:
        try:
            barrier.wait()
            outcome = services.submit_order(account=account, client_order_id="race-1", **LIMIT_BUY)
            results.append((outcome.order.pk, outcome.created))
            # Every thread also runs the send, as duplicate task deliveries would.
            with contextlib.suppress(SubmissionPending):
                services.send_order_to_exchange(order_id=outcome.order.pk)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_and_send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Order.objects.filter(account=account).count() == 1
    assert len({pk for pk, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert len(venue.placed) == 1
    assert Order.objects.get(account=account).status == OrderStatus.SUBMITTED


@pytest.mark.django_db
def test_after_a_crash_mid_send_the_next_attempt_looks_up_instead_of_resending(
    venue: RecordingVenue, instrument
) -> None:
    account = AccountFactory.create()
    order = services.submit_order(account=account, client_order_id="crash-1", **LIMIT_BUY).order
    # The first worker sent the order and died before recording the answer:
    venue.place_order(services.orders._request_of(order))
    Order.objects.filter(pk=order.pk).update(submit_attempts=1)

    order = services.send_order_to_exchange(order_id=order.pk)

    assert venue.lookups == ["crash-1"]
    assert len(venue.placed) == 1
    assert order.status == OrderStatus.SUBMITTED


@pytest.mark.django_db
def test_unknown_outcome_keeps_new_and_the_attempt_after_its_lease_looks_up_first(
    venue: RecordingVenue, instrument
) -> None:
    account = AccountFactory.create()
    order = services.submit_order(account=account, client_order_id="t-1", **LIMIT_BUY).order
    venue.fail_place_with = TemporaryVenueError("timeout", venue_code=-1007)

    with pytest.raises(SubmissionPending):
        services.send_order_to_exchange(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.NEW
    # The timed-out request may still reach the venue until its lease ends: nobody sends or
    # trusts a look-up before then.
    assert order.submit_lease_until is not None
    assert order.submit_lease_until > timezone.now()
    venue.fail_place_with = None
    with pytest.raises(SubmissionPending):
        services.send_order_to_exchange(order_id=order.pk)
    assert (venue.lookups, len(venue.placed)) == ([], 1)

    Order.objects.filter(pk=order.pk).update(submit_lease_until=timezone.now() - timedelta(seconds=1))
    order = services.send_order_to_exchange(order_id=order.pk)
    assert venue.lookups == ["t-1"]
    assert len(venue.placed) == 2  # not found on the venue, so sent again
    assert order.status == OrderStatus.SUBMITTED


@pytest.mark.django_db
def test_venue_rejection_keeps_the_venue_text(venue: RecordingVenue, instrument) -> None:
    account = AccountFactory.create()
    order = services.submit_order(account=account, **LIMIT_BUY).order
    venue.fail_place_with = InvalidOrder("Filter failure: PRICE_FILTER", venue_code=-1013)

    order = services.send_order_to_exchange(order_id=order.pk)

    assert order.status == OrderStatus.REJECTED
    assert order.reject_reason == "Filter failure: PRICE_FILTER"
    event = OrderEvent.objects.get(order=order, to_status=OrderStatus.REJECTED)
    assert event.payload == {"venue_code": -1013, "venue_message": "Filter failure: PRICE_FILTER"}


class _On:
    def is_active(self) -> bool:
        return True


class _Broken:
    def is_active(self) -> bool:
        raise ConnectionError("redis down")


@pytest.mark.django_db
@pytest.mark.parametrize("switch", [_On(), _Broken()], ids=["on", "unreadable"])
def test_kill_switch_refuses_at_intake_and_fails_closed(
    switch, venue: RecordingVenue, instrument, restore_gates
) -> None:
    gates.register_kill_switch(switch)

    with pytest.raises(KillSwitchActive) as info:
        services.submit_order(account=AccountFactory.create(), **LIMIT_BUY)

    assert info.value.code == "kill_switch_active"
    assert not Order.objects.exists()
    assert venue.placed == []


@pytest.mark.django_db
def test_kill_switch_turned_on_after_intake_stops_the_send(
    venue: RecordingVenue, instrument, restore_gates
) -> None:
    account = AccountFactory.create()
    order = services.submit_order(account=account, **LIMIT_BUY).order
    gates.register_kill_switch(_On())

    order = services.send_order_to_exchange(order_id=order.pk)

    assert order.status == OrderStatus.REJECTED
    assert venue.placed == []


@pytest.mark.django_db
def test_risk_denial_refuses_with_reason_codes_and_writes_nothing(instrument, restore_gates) -> None:
    gates.register_pre_trade_check(
        lambda proposal: gates.Verdict(False, (gates.Denial("max_order_notional", "too big"),))
    )
    with pytest.raises(RiskRejected) as info:
        services.submit_order(account=AccountFactory.create(), **LIMIT_BUY)

    assert (info.value.status_code, info.value.code) == (422, "risk_limit_exceeded")
    assert info.value.details["reasons"] == [{"code": "max_order_notional", "message": "too big"}]
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_intakes_of_one_account_are_checked_one_after_the_other(restore_gates) -> None:
    """The pre-trade check must see every order accepted before it, including one a concurrent
    intake is inserting. Here the check allows one open order and, once it has counted, waits
    up to 1 s for the other intake to count too: both count 0 unless the second check waits for
    the first order's commit (the account's intake lock)."""
    btcusdt()
    account = AccountFactory.create()
    counted = threading.Barrier(2)

    def at_most_one_open_order(proposal: gates.OrderProposal) -> gates.Verdict:
        open_orders = selectors.open_order_reservation(proposal.account_id).open_orders
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait(1)
        if open_orders:
            return gates.Verdict(False, (gates.Denial("max_open_orders", "one open order at most"),))
        return gates.Verdict(True)

    gates.register_pre_trade_check(at_most_one_open_order)
    results: list[str] = []

    def place(n: int) -> None:
        try:
            services.submit_order(account=account, **{**LIMIT_BUY, "price": Decimal(f"3000{n}.00")})
            results.append("accepted")
        except RiskRejected:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(results) == ["accepted", "refused"]
    assert Order.objects.filter(account=account).count() == 1


@pytest.mark.django_db
def test_a_refusal_inside_the_callers_transaction_leaves_it_usable(instrument, restore_gates) -> None:
    """A strategy step goes on after a refused order in its own transaction: the refusal must
    not doom it (raised outside the intake's atomic block)."""
    gates.register_pre_trade_check(lambda proposal: gates.Verdict(False, (gates.Denial("x", "no"),)))
    account = AccountFactory.create()
    with transaction.atomic():
        with pytest.raises(RiskRejected):
            services.submit_order(account=account, client_order_id="refused-1", **LIMIT_BUY)
        with pytest.raises(RiskRejected):
            services.submit_order(account=account, **LIMIT_BUY)
        assert not Order.objects.filter(account=account).exists()  # the transaction still works


@pytest.mark.django_db
def test_cancel_of_an_order_never_sent_is_local(venue: RecordingVenue, instrument) -> None:
    order = services.submit_order(account=AccountFactory.create(), **LIMIT_BUY).order

    services.request_cancel(order_id=order.pk, requested_by="test")
    order = services.send_cancel_to_exchange(order_id=order.pk)
    assert order.status == OrderStatus.CANCELED
    assert venue.canceled == []
    # and the queued submission then sends nothing
    services.send_order_to_exchange(order_id=order.pk)
    assert venue.placed == []


@pytest.mark.django_db
def test_cancel_of_a_submitted_order_goes_to_the_venue(venue: RecordingVenue, instrument) -> None:
    order = services.submit_order(account=AccountFactory.create(), client_order_id="c-1", **LIMIT_BUY).order
    services.send_order_to_exchange(order_id=order.pk)

    services.request_cancel(order_id=order.pk, requested_by="test")
    order = services.send_cancel_to_exchange(order_id=order.pk)

    assert venue.canceled == ["c-1"]
    assert order.status == OrderStatus.CANCELED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"symbol": "NOPEUSDT"}, "symbol", "unknown_symbol"),
        ({"quantity": Decimal("0.000015")}, "quantity", "filter_lot_size"),
        ({"quantity": Decimal("0.0001")}, "quantity", "filter_min_notional"),
        ({"price": Decimal("30000.001")}, "price", "filter_price"),
        ({"price": None}, "price", "invalid"),
        ({"order_type": "MARKET"}, "price", "invalid"),
        ({"quantity": Decimal(0)}, "quantity", "invalid"),
        ({"quantity": Decimal("-1")}, "quantity", "invalid"),
        ({"quantity": Decimal("NaN")}, "quantity", "invalid_decimal"),
    ],
)
def test_invalid_terms_are_refused_before_anything_is_written(changes, field, code, instrument) -> None:
    with pytest.raises(ValidationFailed) as info:
        services.submit_order(account=AccountFactory.create(), **{**LIMIT_BUY, **changes})
    assert (info.value.field, info.value.code) == (field, code)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_account_without_a_venue_adapter_gets_a_local_rejection(instrument, monkeypatch) -> None:
    monkeypatch.setattr(venues, "_factories", {})
    order = services.submit_order(account=AccountFactory.create(), **LIMIT_BUY).order

    order = services.send_order_to_exchange(order_id=order.pk)

    assert (order.status, order.reject_reason) == (OrderStatus.REJECTED, "no_venue_adapter")


@pytest.mark.django_db
@pytest.mark.parametrize("client_order_id", [None, "mine-1"], ids=["generated id", "caller's id"])
def test_intake_stores_exactly_the_order_it_returns_with_its_created_event(
    instrument, client_order_id
) -> None:
    """The order and its event are written by one hand-built statement: what was stored must
    be, field by field, what the caller got back (and what the ORM reads)."""
    outcome = services.submit_order(
        account=AccountFactory.create(), **LIMIT_BUY, client_order_id=client_order_id, strategy_id=3
    )

    stored = Order.objects.get()
    returned = outcome.order
    for field in Order._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(returned, field.attname), field.name
    assert (stored.status, stored.filled_quantity, stored.fees, stored.version) == (OrderStatus.NEW, 0, {}, 0)
    event = OrderEvent.objects.get()
    assert (event.order_id, event.kind, event.from_status, event.to_status) == (
        stored.pk,
        OrderEvent.Kind.CREATED,
        "",
        OrderStatus.NEW,
    )
    assert event.payload == {"client_order_id": stored.client_order_id}
