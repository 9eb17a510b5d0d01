from __future__ import annotations

import pytest
from django.test import Client

from apps.core.domain import OrderStatus
from apps.core.tests.factories import UserFactory
from apps.execution.models import OrderEvent

from .factories import OrderFactory


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_order_page_shows_events_and_search_finds_client_id(staff_client: Client) -> None:
    order = OrderFactory.create(client_order_id="find-me-123", status=OrderStatus.SUBMITTED)
    OrderEvent.objects.create(order=order, kind="transition", from_status="NEW", to_status="SUBMITTED")

    listing = staff_client.get("/admin/execution/order/", {"q": "find-me"})
    detail = staff_client.get(f"/admin/execution/order/{order.pk}/change/")

    assert listing.status_code == 200
    assert "find-me-123" in listing.content.decode()
    assert detail.status_code == 200
    assert "SUBMITTED" in detail.content.decode()


@pytest.mark.django_db
def test_admin_action_requests_cancellation(staff_client: Client) -> None:
    open_order = OrderFactory.create(status=OrderStatus.SUBMITTED)
    filled = OrderFactory.create(status=OrderStatus.FILLED)

    response = staff_client.post(
        "/admin/execution/order/",
        {"action": "request_cancellation", "_selected_action": [open_order.pk, filled.pk]},
        follow=True,
    )

    assert response.status_code == 200
    open_order.refresh_from_db()
    filled.refresh_from_db()
    assert open_order.status == OrderStatus.CANCEL_REQUESTED
    assert filled.status == OrderStatus.FILLED
    assert "cannot go from FILLED" in response.content.decode()


@pytest.mark.django_db
def test_order_history_cannot_be_edited_in_admin(staff_client: Client) -> None:
    order = OrderFactory.create(status=OrderStatus.SUBMITTED)
    staff_client.post(f"/admin/execution/order/{order.pk}/change/", {"status": "FILLED"})
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
