"""Limit updates with optimistic locking: a write names the version it read; if someone
else wrote in between, it is refused with 409 and changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.core.decimals import ensure_storable
from apps.core.errors import Conflict, ErrorCode, ValidationFailed
from apps.risk.models import RiskLimits

from .approvals import invalidate_approvals

LIMIT_FIELDS = (
    "max_position_size",
    "max_symbol_exposure",
    "max_total_exposure",
    "max_order_notional",
    "max_open_orders",
    "max_daily_loss",
)


class StaleVersion(Conflict):
    default_code = ErrorCode.VERSION_CONFLICT


def set_limits(
    *, account_id: int, symbol: str, expected_version: int, values: dict[str, Any], actor: str, replace: bool
) -> RiskLimits:
    """Write limits if `expected_version` is current (0 when none exist yet).

    `replace=True` (PUT) sets every limit, absent ones to none; otherwise (PATCH) only those
    given. The version goes up by one; cached approvals of the account stop being used.
    """
    changes = {name: values.get(name) for name in LIMIT_FIELDS} if replace else dict(values)
    _check_values(changes)
    with transaction.atomic():
        if expected_version == 0:
            try:
                with transaction.atomic():
                    limits = RiskLimits.objects.create(
                        account_id=account_id, symbol=symbol, version=1, updated_by=actor, **changes
                    )
            except IntegrityError:
                raise _stale(account_id, symbol) from None
        else:
            updated = RiskLimits.objects.filter(
                account_id=account_id, symbol=symbol, version=expected_version
            ).update(**changes, version=F("version") + 1, updated_by=actor)
            if updated == 0:
                raise _stale(account_id, symbol)
            limits = RiskLimits.objects.get(account_id=account_id, symbol=symbol)
        transaction.on_commit(lambda: invalidate_approvals(account_id=account_id))
    return limits


def _stale(account_id: int, symbol: str) -> StaleVersion:
    current = (
        RiskLimits.objects.filter(account_id=account_id, symbol=symbol)
        .values_list("version", flat=True)
        .first()
    )
    return StaleVersion(
        "These limits were changed since you read them; reload and retry.",
        field="version",
        details={"current_version": current or 0},
    )


def _check_values(changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        if name not in LIMIT_FIELDS:
            raise ValidationFailed(f"Unknown limit {name}.", field=name)
        if value is None:
            continue
        if name == "max_open_orders":
            if not isinstance(value, int) or value < 0:
                raise ValidationFailed("max_open_orders must be a non-negative integer.", field=name)
            continue
        if not isinstance(value, Decimal):
            raise ValidationFailed(f"{name} must be a decimal.", field=name)
        ensure_storable(value, field=name)
        if value < 0:
            raise ValidationFailed(f"{name} must not be negative.", field=name)
