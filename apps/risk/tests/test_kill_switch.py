"""The kill switch: staff-only changes with an audit row each, new orders refused while on
(and when its state cannot be read), cancels still sent."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core.domain import OrderStatus
from apps.core.errors import ServiceUnavailable
from apps.core.tests.factories import UserFactory, access_token_for
from apps.execution import services as execution
from apps.execution.models import Order
from apps.execution.services.orders import KillSwitchActive
from apps.execution.tests.factories import OrderFactory, RecordingVenue
from apps.risk.models import KillSwitchChange
from apps.risk.services import activate_kill_switch, deactivate_kill_switch, kill_switch_state

D = Decimal
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "30000.00"}


def placed_order(account) -> Order:
    """An order accepted by the (recording) venue: SUBMITTED with an exchange order id."""
    order = execution.submit_order(account=account, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                                   quantity=D("0.001"), price=D("30000.00")).order  # fmt: skip
    return execution.send_order_to_exchange(order_id=order.pk)


def post_order(client, account):
    return client.post(
        "/api/v1/orders/",
        json.dumps({**ORDER, "account": account.pk}),
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


@pytest.fixture
def staff_client(client):
    staff = UserFactory.create(is_staff=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {access_token_for(staff)}"
    return client


@pytest.mark.django_db
def test_only_staff_may_change_the_switch_everyone_may_read_it(api_client, staff_client) -> None:
    body = {"reason": "exchange incident"}
    assert api_client.post("/api/v1/kill-switch/activate/", body, format="json").status_code == 403
    assert api_client.get("/api/v1/kill-switch/history/").status_code == 403
    assert not kill_switch_state().active

    response = staff_client.post("/api/v1/kill-switch/activate/", body, content_type="application/json")
    assert response.status_code == 200
    state = api_client.get("/api/v1/kill-switch/").json()
    assert state["active"] is True
    assert state["reason"] == "exchange incident"
    assert state["actor"].startswith("user:")

    off = staff_client.post(
        "/api/v1/kill-switch/deactivate/", {"reason": "resolved"}, content_type="application/json"
    )
    assert off.status_code == 200
    assert not kill_switch_state().active
    audit = list(KillSwitchChange.objects.order_by("id").values_list("active", "reason"))
    assert audit == [(True, "exchange incident"), (False, "resolved")]


@pytest.mark.django_db
def test_a_change_without_a_reason_is_400(staff_client) -> None:
    response = staff_client.post("/api/v1/kill-switch/activate/", {}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "reason"
    assert not kill_switch_state().active
    assert not KillSwitchChange.objects.exists()


@pytest.mark.django_db
def test_while_active_new_orders_are_refused_and_nothing_reaches_the_exchange(
    api_client, account, venue: RecordingVenue
) -> None:
    activate_kill_switch(reason="drill", actor="test")

    response = post_order(api_client, account)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "kill_switch_active"
    assert not Order.objects.exists()
    assert venue.placed == []

    deactivate_kill_switch(reason="drill over", actor="test")
    assert post_order(api_client, account).status_code == 201


@pytest.mark.django_db
def test_while_active_cancels_still_go_through(
    account, venue: RecordingVenue, django_capture_on_commit_callbacks
) -> None:
    order = placed_order(account)
    activate_kill_switch(reason="drill", actor="test")
    with django_capture_on_commit_callbacks(execute=False):
        execution.request_cancel(order_id=order.pk, requested_by="test")
    order = execution.send_cancel_to_exchange(order_id=order.pk)
    assert venue.canceled == [order.client_order_id]
    assert order.status == OrderStatus.CANCELED


@pytest.mark.django_db
def test_activation_can_request_cancellation_of_every_open_order(
    account, django_capture_on_commit_callbacks
) -> None:
    open_orders = [
        OrderFactory.create(account=account, status=s)
        for s in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
    ]
    done = OrderFactory.create(account=account, status=OrderStatus.FILLED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        activate_kill_switch(reason="flatten", actor="test", cancel_open_orders=True)
    for order in open_orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.CANCEL_REQUESTED
    done.refresh_from_db()
    assert done.status == OrderStatus.FILLED
    assert len(callbacks) == 2  # one cancel dispatch per open order


@pytest.mark.django_db
def test_redis_unreachable_refuses_new_orders_and_still_sends_cancels(
    account, venue: RecordingVenue, settings, django_capture_on_commit_callbacks, request
) -> None:
    order = placed_order(account)
    request.getfixturevalue("redis_down")
    state = kill_switch_state()
    assert state.active
    assert not state.readable

    with pytest.raises(KillSwitchActive) as info:
        execution.submit_order(account=account, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                               quantity=D("0.001"), price=D("30000.00"))  # fmt: skip
    assert info.value.code == "kill_switch_active"
    assert list(Order.objects.values_list("pk", flat=True)) == [order.pk]  # nothing new written
    with django_capture_on_commit_callbacks(execute=True):
        execution.request_cancel(order_id=order.pk, requested_by="test")
    order.refresh_from_db()
    assert venue.canceled == [order.client_order_id]  # sent directly: the broker is down too
    assert order.status == OrderStatus.CANCELED
    assert [r.client_order_id for r in venue.placed] == [order.client_order_id]  # nothing new


@pytest.mark.django_db
def test_a_switch_that_cannot_be_written_is_an_error_not_a_silent_no(redis_down) -> None:
    with pytest.raises(ServiceUnavailable) as info:
        activate_kill_switch(reason="x", actor="test")
    assert info.value.code == "risk_unavailable"
    assert not KillSwitchChange.objects.exists()


@pytest.mark.django_db
def test_management_command_shows_activates_and_deactivates() -> None:
    out = StringIO()
    call_command("kill_switch", "on", "--reason", "maintenance", stdout=out)
    assert "kill switch ON: maintenance" in out.getvalue()
    assert kill_switch_state().active
    with pytest.raises(CommandError):
        call_command("kill_switch", "off")
    assert kill_switch_state().active
    call_command("kill_switch", "off", "--reason", "done", stdout=out)
    call_command("kill_switch", "status", stdout=out)
    assert out.getvalue().strip().endswith(")")
    assert "kill switch off: done" in out.getvalue()
    assert KillSwitchChange.objects.filter(actor__startswith="cli:").count() == 2


@pytest.mark.django_db
def test_admin_toggle_activates_with_an_audit_row(client) -> None:
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/risk/killswitchchange/")
    assert page.status_code == 200
    assert b"kill switch" in page.content.lower()
    response = client.post("/admin/risk/killswitchchange/toggle/", {"reason": "admin drill", "activate": "1"})
    assert response.status_code == 302
    assert kill_switch_state().active
    assert KillSwitchChange.objects.get().actor == f"admin:{staff.username}"
