"""The watchdog's decisions: risk health (heartbeat age, failing validations) and the optional
automatic triggers, each off unless configured."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.execution.gates import OrderProposal
from apps.execution.models import ReconciliationRun
from apps.portfolio.tests.factories import PositionFactory
from apps.risk.gate import pre_trade_check
from apps.risk.models import KillSwitchChange
from apps.risk.services import kill_switch_state, publish_heartbeat, run_watchdog
from apps.risk.services.health import record_validation_failure

from .factories import limits


@pytest.fixture
def healthy(settings) -> float:
    settings.RISK_UNAVAILABLE_AFTER_SECONDS = 30
    now = time.time()
    publish_heartbeat(now)
    return now


@pytest.mark.django_db
def test_fresh_heartbeat_keeps_trading_on(healthy: float) -> None:
    assert run_watchdog(healthy + 29) is None
    assert not kill_switch_state().active


@pytest.mark.django_db
def test_heartbeat_older_than_the_threshold_turns_the_switch_on_with_the_reason(healthy: float) -> None:
    reason = run_watchdog(healthy + 31)
    assert reason is not None
    assert "no risk worker heartbeat for 31s" in reason
    state = kill_switch_state()
    assert state.active
    assert state.actor == "risk-watchdog"
    assert KillSwitchChange.objects.get().automatic
    assert run_watchdog(healthy + 60) is None  # already on: no second audit row
    assert KillSwitchChange.objects.count() == 1


@pytest.mark.django_db
def test_no_heartbeat_ever_counts_as_unavailable() -> None:
    assert "has ever been seen" in (run_watchdog() or "")
    assert kill_switch_state().active


@pytest.mark.django_db
def test_validations_failing_longer_than_the_threshold_turn_the_switch_on(healthy: float, account) -> None:
    record_validation_failure(healthy)
    publish_heartbeat(healthy + 31)  # the worker is alive, but every check fails
    reason = run_watchdog(healthy + 31)
    assert reason is not None
    assert "validations failing" in reason


@pytest.mark.django_db
def test_a_successful_validation_clears_the_failure_clock(healthy: float, account) -> None:
    record_validation_failure(healthy)
    verdict = pre_trade_check(
        OrderProposal(
            account_id=account.pk,
            symbol="BTCUSDT",
            side="BUY",
            order_type="LIMIT",
            quantity=Decimal("0.001"),
            price=Decimal("30000"),
        )
    )
    assert verdict.approved
    publish_heartbeat(healthy + 31)
    assert run_watchdog(healthy + 31) is None


def _run_with_drift(account, drift: str, venue: str = "1.0") -> None:
    ReconciliationRun.objects.create(
        account=account, status=ReconciliationRun.Status.SUCCEEDED, finished_at=timezone.now(),
        balance_drift={"BTC": {"venue": venue, "portfolio": "?", "drift": drift}},
    )  # fmt: skip


@pytest.mark.django_db
def test_drift_trigger_is_off_by_default(healthy: float, account) -> None:
    _run_with_drift(account, "0.5")
    assert run_watchdog(healthy) is None


@pytest.mark.django_db
def test_drift_trigger_fires_beyond_the_tolerance_only(healthy: float, account, settings) -> None:
    settings.RISK_TRIGGER_DRIFT_TOLERANCE_PCT = "1"
    _run_with_drift(account, "0.01")  # exactly 1 %
    assert run_watchdog(healthy) is None
    _run_with_drift(account, "0.0101")
    reason = run_watchdog(healthy)
    assert reason is not None
    assert "reconciliation drift" in reason
    assert "BTC" in reason


@pytest.mark.django_db
def test_stale_books_trigger(healthy: float, account, settings) -> None:
    old = ReconciliationRun.objects.create(
        account=account,
        status=ReconciliationRun.Status.SUCCEEDED,
        finished_at=timezone.now() - timedelta(seconds=100),
    )
    assert run_watchdog(healthy) is None  # off by default
    settings.RISK_TRIGGER_STALE_AFTER_SECONDS = 120
    assert run_watchdog(healthy) is None
    old.finished_at = timezone.now() - timedelta(seconds=130)
    old.save()
    assert "portfolio data stale" in (run_watchdog(healthy) or "")


@pytest.mark.django_db
def test_daily_loss_trigger(healthy: float, account, settings) -> None:
    PositionFactory.create(account=account, quantity=0, realized_pnl=Decimal("-150"))
    limits(account, max_daily_loss=Decimal("100"))
    assert run_watchdog(healthy) is None  # off by default
    settings.RISK_TRIGGER_DAILY_LOSS = True
    assert "daily loss limit reached" in (run_watchdog(healthy) or "")
