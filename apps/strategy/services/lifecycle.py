"""Status changes: start, pause, stop, mark_error. Each locks the row, checks the one
transition table, and writes the new status with its StrategyEvent in one transaction; an
illegal or refused change raises and writes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import Conflict, ErrorCode
from apps.execution import selectors as execution_selectors
from apps.execution import services as execution_services
from apps.execution.models import Order
from apps.strategy.lifecycle import FRESH_START_FROM, check_transition
from apps.strategy.models import Strategy, StrategyEvent, StrategyStatus

from .preconditions import Reason, start_preconditions

logger = logging.getLogger(__name__)


class StartRefused(Conflict):
    """409 with every reason in `details.reasons` (each {code, message})."""

    default_code = ErrorCode.STRATEGY_NOT_STARTABLE

    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__(
            "The strategy cannot start: " + "; ".join(r.message for r in reasons),
            details={"reasons": [asdict(r) for r in reasons]},
        )
        self.reasons = reasons


def _transition(
    strategy_id: int,
    target: StrategyStatus,
    *,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
    before: Callable[[Strategy], dict[str, Any] | None] | None = None,
) -> Strategy:
    """Lock, check the table, run `before` (may raise; may add event details), write both rows."""
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().select_related("account").get(pk=strategy_id)
        previous = strategy.status
        check_transition(previous, target)
        extra = before(strategy) if before else None
        strategy.status = target
        strategy.version = F("version") + 1
        strategy.save()
        strategy.refresh_from_db()
        StrategyEvent.objects.create(
            strategy=strategy,
            from_status=previous,
            to_status=target,
            reason=reason,
            actor=actor,
            details={**(details or {}), **(extra or {})},
        )
    return strategy


def start_strategy(*, strategy_id: int, actor: str, now: datetime | None = None) -> Strategy:
    """Run (or resume) the strategy if every start precondition holds; else StartRefused (409)."""

    def check(strategy: Strategy) -> dict[str, Any]:
        reasons = start_preconditions(strategy, now=now or timezone.now())
        if reasons:
            raise StartRefused(reasons)
        fresh = strategy.status in FRESH_START_FROM
        if fresh:
            strategy.state = {}
            strategy.last_step_at = None
        strategy.last_error = ""
        strategy.consecutive_failures = 0
        return {"fresh_state": fresh}

    return _transition(strategy_id, StrategyStatus.RUNNING, actor=actor, reason="started", before=check)


def pause_strategy(*, strategy_id: int, actor: str, reason: str = "") -> Strategy:
    """Stop acting on candles; resting orders and the runtime state stay as they are."""
    return _transition(strategy_id, StrategyStatus.PAUSED, actor=actor, reason=reason or "paused")


def stop_strategy(*, strategy_id: int, actor: str, cancel_open_orders: bool, reason: str = "") -> Strategy:
    """Stop for good; with `cancel_open_orders` every open order of the strategy is asked to
    cancel in the same transaction (sent to the venue after commit). The position is kept."""

    def cancel(strategy: Strategy) -> dict[str, Any]:
        if not cancel_open_orders:
            return {"cancel_open_orders": False}
        return {"cancel_open_orders": True, "cancel_requested": _cancel_open_orders(strategy, actor)}

    return _transition(
        strategy_id, StrategyStatus.STOPPED, actor=actor, reason=reason or "stopped", before=cancel
    )


def mark_error(*, strategy_id: int, error: str, actor: str = "engine") -> Strategy:
    """The engine gives up on a strategy: ERROR with the cause kept in `last_error`."""

    def record(strategy: Strategy) -> None:
        strategy.last_error = error

    return _transition(strategy_id, StrategyStatus.ERROR, actor=actor, reason=error, before=record)


def _cancel_open_orders(strategy: Strategy, actor: str) -> list[int]:
    """Several orders in one transaction: locked first, in one id-ordered statement, like a
    fill burst locks them (docs/EXECUTION.md), so that the cancels below cannot deadlock."""
    execution_services.lock_open_orders(account_id=strategy.account_id, strategy_id=strategy.pk)
    ids = list(
        Order.objects.filter(
            account_id=strategy.account_id,
            strategy_id=strategy.pk,
            status__in=execution_selectors.OPEN_ORDER_STATUSES,
        )
        .exclude(status="CANCEL_REQUESTED")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    requested: list[int] = []
    for order_id in ids:
        try:
            execution_services.request_cancel(order_id=order_id, requested_by=f"strategy-stop:{actor}")
        except Conflict:  # filled or canceled meanwhile: nothing left to cancel
            logger.info("order %s of strategy %s closed before its cancel", order_id, strategy.pk)
            continue
        requested.append(order_id)
    return requested
