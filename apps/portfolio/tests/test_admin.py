from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from apps.core.tests.factories import UserFactory

from .factories import fill, order_for, relay


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_positions_and_balances_are_listed_and_read_only(staff_client: Client, account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="0.001", asset="BTC")
    relay()
    position = account.positions.get()

    listing = staff_client.get("/admin/portfolio/position/")
    detail = staff_client.get(f"/admin/portfolio/position/{position.pk}/change/")
    balances = staff_client.get("/admin/portfolio/balance/")

    assert listing.status_code == 200
    assert "BTCUSDT" in listing.content.decode()
    assert detail.status_code == 200
    assert "Base At Fill Price" in detail.content.decode()  # the fill's fee conversion, inline
    assert balances.status_code == 200
    assert "BTC" in balances.content.decode()
    assert staff_client.get("/admin/portfolio/position/add/").status_code == 403
    staff_client.post(f"/admin/portfolio/position/{position.pk}/change/", {"quantity": "5"})
    position.refresh_from_db()
    assert position.quantity == Decimal("0.999")  # unchanged: 1 bought, 0.001 paid as the fee
    for page in ("mark", "pnlsnapshot"):
        assert staff_client.get(f"/admin/portfolio/{page}/").status_code == 200
