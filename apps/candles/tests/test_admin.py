from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from apps.candles.models import Candle
from apps.core.tests.factories import UserFactory

from .factories import CandleFactory


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_candles_are_listed_filtered_and_read_only(staff_client: Client) -> None:
    btc = CandleFactory.create(symbol="BTCUSDT")
    CandleFactory.create(symbol="ETHUSDT", interval="1m")

    listing = staff_client.get("/admin/candles/candle/", {"symbol": "ETHUSDT"})
    assert listing.status_code == 200
    assert "ETHUSDT" in listing.content.decode()
    assert "BTCUSDT</td>" not in listing.content.decode()
    assert staff_client.get(f"/admin/candles/candle/{btc.pk}/change/").status_code == 200
    assert staff_client.get("/admin/candles/candle/add/").status_code == 403
    before = btc.open
    staff_client.post(f"/admin/candles/candle/{btc.pk}/change/", {"open": "1"})
    btc.refresh_from_db()
    assert btc.open == before != Decimal("1")
    staff_client.post(f"/admin/candles/candle/{btc.pk}/delete/", {"post": "yes"})
    assert not Candle.objects.filter(pk=btc.pk).exists()
