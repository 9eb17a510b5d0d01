"""Optional automatic kill-switch triggers besides risk's own health, each off unless set:

- reconciliation drift: the latest successful run of an active account found a balance that
  differs from portfolio's by more than RISK_TRIGGER_DRIFT_TOLERANCE_PCT percent of the venue's;
- stale portfolio: the books of an active account that has been reconciled before have not been
  confirmed for RISK_TRIGGER_STALE_AFTER_SECONDS (accounts never reconciled are not trading yet);
- daily loss: an account's loss today is beyond its max_daily_loss (RISK_TRIGGER_DAILY_LOSS).

The watchdog evaluates them on beat; the first that holds turns the switch on with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import timezone

from apps.execution import selectors as execution_selectors
from apps.execution.models import ExchangeAccount, ReconciliationRun
from apps.risk.models import RiskLimits

from .validation import daily_loss


def first_trigger_reason(now: datetime | None = None) -> str | None:
    now = now or timezone.now()
    checks: list[Callable[[datetime], str | None]] = [_drift, _stale_books, _daily_loss]
    for check in checks:
        reason = check(now)
        if reason:
            return reason
    return None


def _active_account_ids() -> list[int]:
    return list(ExchangeAccount.objects.filter(is_active=True).values_list("pk", flat=True))


def _drift(now: datetime) -> str | None:
    tolerance = settings.RISK_TRIGGER_DRIFT_TOLERANCE_PCT
    if tolerance is None:
        return None
    for account_id in _active_account_ids():
        run = (
            ReconciliationRun.objects.filter(account_id=account_id, status=ReconciliationRun.Status.SUCCEEDED)
            .order_by("-finished_at")
            .first()
        )
        for asset, row in (run.balance_drift if run else {}).items():
            if not isinstance(row, dict):
                continue
            try:
                venue, drift = abs(Decimal(row["venue"])), abs(Decimal(row["drift"]))
            except (KeyError, InvalidOperation):
                continue
            if drift > venue * Decimal(tolerance) / 100:
                return (
                    f"reconciliation drift on account {account_id}: {asset} differs by {row['drift']} "
                    f"(venue {row['venue']}, tolerance {tolerance}%)"
                )
    return None


def _stale_books(now: datetime) -> str | None:
    limit = settings.RISK_TRIGGER_STALE_AFTER_SECONDS
    if not limit:
        return None
    for account_id in _active_account_ids():
        confirmed = execution_selectors.last_successful_reconciliation_at(account_id)
        if confirmed is not None and now - confirmed > timedelta(seconds=limit):
            age = (now - confirmed).total_seconds()
            return (
                f"portfolio data stale on account {account_id}: "
                f"last reconciled {age:.0f}s ago (limit {limit}s)"
            )
    return None


def _daily_loss(now: datetime) -> str | None:
    if not settings.RISK_TRIGGER_DAILY_LOSS:
        return None
    rows = RiskLimits.objects.filter(symbol="", max_daily_loss__isnull=False, account__is_active=True)
    for row in rows:
        assert row.max_daily_loss is not None  # noqa: S101 - filtered above; for the type checker
        loss = daily_loss(row.account_id, now)
        if loss > row.max_daily_loss:
            return (
                f"daily loss limit reached on account {row.account_id}: "
                f"lost {loss} (limit {row.max_daily_loss})"
            )
    return None
