from __future__ import annotations

import pytest
from django.test import Client

from apps.core.tests.factories import UserFactory
from apps.strategy import services
from apps.strategy.models import StrategyEvent, StrategyStatus

from .factories import StrategyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def test_strategy_page_shows_its_events(staff_client: Client, account) -> None:
    strategy = StrategyFactory.create(
        owner=account.owner, account=account, name="find-me", status=StrategyStatus.RUNNING
    )
    services.pause_strategy(strategy_id=strategy.pk, actor="ops", reason="maintenance window")
    listing = staff_client.get("/admin/strategy/strategy/", {"q": "find-me"})
    detail = staff_client.get(f"/admin/strategy/strategy/{strategy.pk}/change/")
    assert listing.status_code == 200
    assert "find-me" in listing.content.decode()
    assert detail.status_code == 200
    assert "maintenance window" in detail.content.decode()


def test_admin_actions_go_through_the_lifecycle(staff_client: Client, account) -> None:
    running = StrategyFactory.create(owner=account.owner, account=account, status=StrategyStatus.RUNNING)
    draft = StrategyFactory.create(owner=account.owner, account=account)
    response = staff_client.post(
        "/admin/strategy/strategy/",
        {"action": "pause", "_selected_action": [running.pk, draft.pk]},
        follow=True,
    )
    assert response.status_code == 200
    running.refresh_from_db()
    draft.refresh_from_db()
    assert running.status == StrategyStatus.PAUSED
    assert draft.status == StrategyStatus.DRAFT  # DRAFT -> PAUSED is illegal: reported, not forced
    assert "cannot go from DRAFT to PAUSED" in response.content.decode()
    assert StrategyEvent.objects.filter(strategy=running, to_status="PAUSED").count() == 1
    assert not StrategyEvent.objects.filter(strategy=draft).exists()
