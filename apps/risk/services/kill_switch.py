"""The global kill switch: a Redis flag (fast to read on every order) with an audit row in
PostgreSQL for every change. It fails closed: when the flag cannot be read, trading is off.

While active, execution refuses new orders (409 `kill_switch_active`), strategies cannot
start and running ones pause; cancels still go through. Deactivation is always manual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from apps.core.errors import ErrorCode, ServiceUnavailable
from apps.execution import selectors as execution_selectors
from apps.execution import services as execution_services
from apps.execution.models import Order
from apps.risk.models import KillSwitchChange

from . import redis_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KillSwitchState:
    active: bool
    reason: str
    actor: str
    changed_at: datetime | None
    readable: bool = True


def kill_switch_state() -> KillSwitchState:
    """The switch as stored; if Redis cannot be read, reported active (fail closed)."""
    try:
        raw = redis_keys.client().hgetall(flag_key())
    except redis.RedisError as exc:
        return KillSwitchState(True, f"kill switch unreadable: {exc}", "system", None, readable=False)
    return state_of_flag(raw)  # type: ignore[arg-type]


def flag_key() -> str:
    """The Redis hash holding the switch (read with `HGETALL`)."""
    return redis_keys.key("kill-switch")


def state_of_flag(raw: Mapping[str, str]) -> KillSwitchState:
    """The switch from its flag as read from Redis (`HGETALL`); a missing flag is restored
    from the audit."""
    if not raw:
        return _restored_from_audit()
    changed = raw.get("changed_at")
    return KillSwitchState(
        active=raw.get("active") == "1",
        reason=raw.get("reason", ""),
        actor=raw.get("actor", ""),
        changed_at=datetime.fromtimestamp(float(changed), tz=UTC) if changed else None,
    )


def _restored_from_audit() -> KillSwitchState:
    """The flag is missing: Redis lost its data (restart without persistence, failover,
    eviction, flush). The audit row of the last change — written on every change — decides,
    and the flag is stored again; never "off" by default once the switch has been used."""
    try:
        last = KillSwitchChange.objects.order_by("-id").first()
    except Exception as exc:  # noqa: BLE001 - neither store answers: fail closed
        return KillSwitchState(True, f"kill switch unreadable: {exc}", "system", None, readable=False)
    if last is None:
        _remember_never_used()
        return KillSwitchState(active=False, reason="", actor="", changed_at=None)
    logger.warning("kill switch flag missing in Redis; restored from the audit (active=%s)", last.active)
    with contextlib.suppress(ServiceUnavailable):
        _store(active=last.active, reason=last.reason, actor=last.actor, changed_at=last.created_at)
    return KillSwitchState(
        active=last.active, reason=last.reason, actor=last.actor, changed_at=last.created_at
    )


def _remember_never_used() -> None:
    """Store "off" for a switch that was never used, so that the next orders read Redis only
    instead of the audit table every time. `HSETNX` writes only while the field is absent:
    an activation's flag, stored before its audit row, is never overwritten."""
    with contextlib.suppress(redis.RedisError):
        redis_keys.client().hsetnx(flag_key(), "active", "0")


class RedisKillSwitch:
    """What execution asks before every order (registered in RiskConfig.ready)."""

    def is_active(self) -> bool:
        return kill_switch_state().active


def activate_kill_switch(
    *, reason: str, actor: str, automatic: bool = False, cancel_open_orders: bool = False
) -> KillSwitchState:
    """Turn trading off now; optionally request cancellation of every open order."""
    _store(active=True, reason=reason, actor=actor)
    KillSwitchChange.objects.create(active=True, reason=reason, actor=actor, automatic=automatic)
    logger.warning("KILL SWITCH ON by %s: %s", actor, reason)
    if cancel_open_orders:
        _cancel_all_open_orders(actor)
    return kill_switch_state()


def deactivate_kill_switch(*, reason: str, actor: str) -> KillSwitchState:
    _store(active=False, reason=reason, actor=actor)
    KillSwitchChange.objects.create(active=False, reason=reason, actor=actor)
    logger.warning("kill switch off by %s: %s", actor, reason)
    return kill_switch_state()


def _store(*, active: bool, reason: str, actor: str, changed_at: datetime | None = None) -> None:
    try:
        redis_keys.client().hset(
            flag_key(),
            mapping={
                "active": "1" if active else "0",
                "reason": reason,
                "actor": actor,
                "changed_at": str((changed_at or datetime.now(tz=UTC)).timestamp()),
            },
        )
    except redis.RedisError as exc:
        raise ServiceUnavailable(
            f"The kill switch could not be written: {exc}", code=ErrorCode.RISK_UNAVAILABLE
        ) from exc


def _cancel_all_open_orders(actor: str) -> int:
    """One transaction per order (`request_cancel` commits each on its own): the kill switch
    never holds one order while waiting for another, so it cannot deadlock with a fill burst."""
    ids = list(
        Order.objects.filter(status__in=execution_selectors.OPEN_ORDER_STATUSES)
        .exclude(status="CANCEL_REQUESTED")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for order_id in ids:
        execution_services.request_cancel(order_id=order_id, requested_by=f"kill-switch:{actor}")
    return len(ids)
