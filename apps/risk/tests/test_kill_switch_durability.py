"""The kill switch survives Redis losing its data (a restart without persistence, a failover
to a replica that never had the key, an eviction, a FLUSHALL): the flag is then missing, and
the audit table in PostgreSQL — written on every change — decides. Found by the soak review
(docs/RELIABILITY.md): a missing flag read as "off", so trading resumed by itself."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.execution.models import Order
from apps.risk.services import activate_kill_switch, deactivate_kill_switch, kill_switch_state, redis_keys

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "30000.00"}


def lose_redis_data() -> None:
    redis_keys.client().delete(redis_keys.key("kill-switch"))


@pytest.mark.django_db
def test_a_switch_left_on_stays_on_when_redis_loses_the_flag(api_client, account) -> None:
    activate_kill_switch(reason="incident", actor="ops")
    lose_redis_data()

    state = kill_switch_state()
    response = api_client.post(
        "/api/v1/orders/", json.dumps({**ORDER, "account": account.pk}), content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip

    assert state.active
    assert state.reason == "incident"
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "kill_switch_active"
    assert not Order.objects.exists()
    assert redis_keys.client().hget(redis_keys.key("kill-switch"), "active") == "1"  # the flag is restored


@pytest.mark.django_db
def test_a_switch_turned_off_stays_off_when_redis_loses_the_flag() -> None:
    activate_kill_switch(reason="incident", actor="ops")
    deactivate_kill_switch(reason="resolved", actor="ops")
    lose_redis_data()
    assert not kill_switch_state().active


@pytest.mark.django_db
def test_a_switch_never_used_is_off() -> None:
    lose_redis_data()
    assert not kill_switch_state().active
