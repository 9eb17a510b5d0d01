"""Order intake asks the kill switch and risk together (`gates.admit` → `apps.risk.gate.admit`):
one Redis round trip for the switch's flag and risk's first read, with the answers of asking
them one after the other — fail closed, restored from the audit, the approval epoch obeyed
(real PostgreSQL and Redis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import redis

from apps.execution import gates
from apps.execution.gates import OrderProposal
from apps.execution.models import Order
from apps.risk.models import KillSwitchChange, RiskLimits
from apps.risk.services import activate_kill_switch, deactivate_kill_switch, invalidate_approvals, redis_keys
from apps.risk.services.health import record_validation_failure
from apps.risk.services.kill_switch import flag_key

from .factories import limits
from .test_kill_switch import post_order

D = Decimal

#: An approval by limits that read nothing of the account (order notional only).
APPROVED = gates.Verdict(approved=True, reads_account_state=False)


def _proposal(account: Any, quantity: str = "0.01") -> OrderProposal:  # 0.01 BTC at 30,000 = 300 USDT
    return OrderProposal(
        account_id=account.pk, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=D(quantity), price=D("30000"),
    )  # fmt: skip


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every round trip risk's Redis client makes: a command's name, or the commands of a
    pipeline joined by '+'."""
    trips: list[str] = []
    real_execute_command = redis.Redis.execute_command
    real_pipeline_execute = redis.client.Pipeline.execute

    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        if self.connection_pool is redis_keys.client().connection_pool:
            trips.append(str(args[0]))
        return real_execute_command(self, *args, **options)

    def pipeline_execute(self: Any, raise_on_error: bool = True) -> Any:
        if self.connection_pool is redis_keys.client().connection_pool:
            trips.append("+".join(str(c[0][0]) for c in self.command_stack))
        return real_pipeline_execute(self, raise_on_error)

    monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline_execute)
    return trips


@pytest.mark.django_db
def test_the_switch_and_risks_first_read_are_one_round_trip(account, round_trips) -> None:
    limits(account, max_order_notional=D("1000"))
    deactivate_kill_switch(reason="test", actor="test")  # a stored flag: nothing restored
    assert gates.admit(_proposal(account)).verdict == APPROVED  # cached now
    round_trips.clear()

    admission = gates.admit(_proposal(account))

    assert admission == gates.Admission(kill_switch_active=False, verdict=APPROVED)
    assert round_trips == ["HGETALL+MGET", "GET"]  # flag + epoch/failure mark, then the cached approval


@pytest.mark.django_db
def test_an_active_switch_refuses_without_asking_risk(account, round_trips) -> None:
    limits(account, max_order_notional=D("1"))  # risk would deny (422) if it were asked
    activate_kill_switch(reason="drill", actor="test")
    round_trips.clear()

    assert gates.admit(_proposal(account)) == gates.Admission(kill_switch_active=True)
    assert round_trips == ["HGETALL+MGET"]


@pytest.mark.django_db
def test_an_unreadable_switch_refuses_orders(account, api_client, request) -> None:
    request.getfixturevalue("redis_down")
    assert gates.admit(_proposal(account)) == gates.Admission(kill_switch_active=True)

    response = post_order(api_client, account)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "kill_switch_active"
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_lost_flag_is_restored_from_the_audit_and_still_refuses(account) -> None:
    activate_kill_switch(reason="incident", actor="ops")
    redis_keys.client().delete(flag_key())  # Redis lost its data

    assert gates.admit(_proposal(account)) == gates.Admission(kill_switch_active=True)
    assert redis_keys.client().hget(flag_key(), "active") == "1"  # stored again
    assert KillSwitchChange.objects.count() == 1


@pytest.mark.django_db
def test_a_cached_approval_is_not_reused_after_the_epoch_moves(account) -> None:
    limits(account, max_order_notional=D("1000"))
    assert gates.admit(_proposal(account)).verdict == APPROVED  # cached
    # A write behind the service (no version bump), announced by bumping the epoch only.
    RiskLimits.objects.filter(account=account).update(max_order_notional=D("1"))
    invalidate_approvals(account_id=account.pk)

    verdict = gates.admit(_proposal(account)).verdict
    assert verdict is not None
    assert not verdict.approved
    assert [d.code for d in verdict.denials] == ["max_order_notional"]


@pytest.mark.django_db
def test_a_recorded_failure_is_cleared_by_an_approved_order(account) -> None:
    limits(account, max_order_notional=D("1000"))
    record_validation_failure()
    assert redis_keys.client().get(redis_keys.key("failing-since")) is not None

    assert gates.admit(_proposal(account)).verdict == APPROVED
    assert redis_keys.client().get(redis_keys.key("failing-since")) is None


@pytest.mark.django_db
def test_a_replaced_check_is_obeyed_instead_of_the_combined_read(account, restore_gates) -> None:
    gates.register_pre_trade_check(lambda proposal: gates.Verdict(False, (gates.Denial("test", "no"),)))
    verdict = gates.admit(_proposal(account)).verdict
    assert verdict is not None
    assert [d.code for d in verdict.denials] == ["test"]
