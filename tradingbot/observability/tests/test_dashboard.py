"""The staff health dashboard: staff only, every component, colours follow the state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.execution.models import OutboxEvent, ReconciliationRun
from apps.execution.tests.factories import AccountFactory
from apps.risk.services import activate_kill_switch, deactivate_kill_switch, publish_heartbeat


def row_state(html: str, component: str) -> str:
    marker = f'data-component="{component}" data-state="'
    assert marker in html, html
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.mark.django_db
def test_only_staff_see_it(client: Client, api_client, user) -> None:
    assert client.get("/ops/dashboard/").status_code == 302  # to the admin login
    client.force_login(user)
    assert client.get("/ops/dashboard/").status_code == 302


@pytest.mark.django_db
def test_every_component_is_listed_and_refreshes(admin_client: Client) -> None:
    response = admin_client.get("/ops/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="10">' in html
    for component in ("PostgreSQL", "Redis", "Celery broker", "Celery queues", "Celery workers",
                      "Risk heartbeat", "Kill switch", "Outbox", "Strategies", "Backtests"):  # fmt: skip
        assert f'data-component="{component}"' in html
    assert row_state(html, "PostgreSQL") == "ok"
    assert row_state(html, "Celery workers") == "down"  # none runs in this test


@pytest.mark.django_db
def test_kill_switch_risk_outbox_and_reconciliation_colours(admin_client: Client) -> None:
    publish_heartbeat()
    activate_kill_switch(reason="drill", actor="test")
    account = AccountFactory.create()
    event = OutboxEvent.objects.create(aggregate_type="a", aggregate_id="1", event_type="e", payload={})
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=45))
    ReconciliationRun.objects.create(
        account=account,
        status=ReconciliationRun.Status.FAILED,
        finished_at=timezone.now(),
        errors=["venue 500"],
    )
    try:
        html = admin_client.get("/ops/dashboard/").content.decode()
    finally:
        deactivate_kill_switch(reason="drill over", actor="test")
    assert row_state(html, "Kill switch") == "down"
    assert "drill" in html
    assert row_state(html, "Risk heartbeat") == "ok"
    assert row_state(html, "Outbox") == "down"
    assert row_state(html, f"Reconciliation #{account.pk}") == "down"
    assert "venue 500" in html
    assert 'id="overall" data-state="down"' in html

    html = admin_client.get("/ops/dashboard/").content.decode()
    assert row_state(html, "Kill switch") == "ok"
