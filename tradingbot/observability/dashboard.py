"""The staff health dashboard (/ops/dashboard/): each component's state, lag and last error,
colour-coded, server-rendered, refreshing itself. Every probe is independent: one failing
(or a dependency down) shows as that component's error, never as a broken page."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.core import health
from apps.execution.metrics import last_runs, outbox_backlog
from apps.execution.models import ReconciliationRun
from apps.execution.user_stream import stream_states
from apps.risk.services import redis_keys
from apps.risk.services.health import risk_unavailable_reason
from apps.risk.services.kill_switch import kill_switch_state
from tradingbot.celery import app as celery_app

from .collectors import backtest_overview, queue_lengths, strategy_overview

OK, WARN, DOWN, UNKNOWN = "ok", "warn", "down", "unknown"
OUTBOX_WARN_SECONDS, OUTBOX_DOWN_SECONDS = 5.0, 30.0
STREAM_DOWN_AFTER_SECONDS = 60.0
QUEUE_WARN_LENGTH = 100


@dataclass(frozen=True)
class Component:
    name: str
    state: str
    detail: str = ""
    lag: str = ""
    last_error: str = ""


Probe = Callable[[], Iterable[Component]]


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _dependency(name: str, check: Callable[[], None]) -> list[Component]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - shown on the page
        return [Component(name, DOWN, last_error=f"{type(exc).__name__}: {exc}")]
    return [Component(name, OK, f"answered in {(time.perf_counter() - started) * 1000:.1f} ms")]


def postgresql() -> list[Component]:
    return _dependency("PostgreSQL", health.check_database)


def redis_server() -> list[Component]:
    return _dependency("Redis", health.check_redis)


def celery_broker() -> list[Component]:
    broker = _dependency("Celery broker", health.check_celery_broker)
    if broker[0].state != OK:
        return broker
    lengths = queue_lengths()
    busy = [q for q in ("execution", "outbox") if lengths[q] > QUEUE_WARN_LENGTH]
    detail = ", ".join(f"{queue} {length}" for queue, length in lengths.items())
    queues = Component("Celery queues", WARN if busy else OK, detail, last_error=", ".join(busy))
    return [*broker, queues]


def workers() -> list[Component]:
    replies = celery_app.control.inspect(timeout=1.0).ping() or {}
    if not replies:
        return [Component("Celery workers", DOWN, last_error="no worker answered a ping within 1 s")]
    return [Component("Celery workers", OK, f"{len(replies)} seen: " + ", ".join(sorted(replies)))]


def risk() -> list[Component]:
    heartbeat = redis_keys.client().get(redis_keys.key("heartbeat"))
    age = time.time() - float(heartbeat) if heartbeat is not None else None  # type: ignore[arg-type]
    reason = risk_unavailable_reason()
    return [Component("Risk heartbeat", DOWN if reason else OK, lag=_seconds(age), last_error=reason or "")]


def kill_switch() -> list[Component]:
    state = kill_switch_state()
    changed = f"since {state.changed_at:%Y-%m-%d %H:%M:%S} UTC by {state.actor}" if state.changed_at else ""
    if state.active:
        return [Component("Kill switch", DOWN, f"ACTIVE {changed}", last_error=state.reason)]
    return [Component("Kill switch", OK, f"off {changed}".strip())]


def user_streams() -> list[Component]:
    rows = []
    for account_id, stream in stream_states().items():
        state = str(stream["state"])
        down_for = float(stream.get("down_seconds") or 0.0)  # type: ignore[arg-type]
        if state == "connected":
            level = OK
        elif state == "disconnected" and down_for < STREAM_DOWN_AFTER_SECONDS:
            level = WARN
        else:
            level = DOWN
        detail = state if state == "connected" or not down_for else f"{state} for {_seconds(down_for)}"
        rows.append(
            Component(
                f"User stream #{account_id} {stream['name']}",
                level,
                f"{detail}, {stream['reconnects']} reconnects",
                lag=_seconds(stream["last_event_age_seconds"]),  # type: ignore[arg-type]
                last_error=str(stream["last_error"]),
            )
        )
    return rows or [Component("User streams", UNKNOWN, "no active account with credentials")]


def outbox() -> list[Component]:
    backlog, age, retrying = outbox_backlog()
    level = DOWN if age > OUTBOX_DOWN_SECONDS else WARN if age > OUTBOX_WARN_SECONDS or retrying else OK
    return [Component("Outbox", level, f"{backlog} unpublished, {retrying} retrying", lag=_seconds(age))]


def reconciliation() -> list[Component]:
    now = timezone.now()
    stale_after = settings.PORTFOLIO_RECONCILIATION_MAX_AGE_SECONDS
    rows = []
    for run in last_runs():
        finished = run.finished_at or run.started_at
        age = (now - finished).total_seconds()
        drift = sorted(run.balance_drift or {})
        if run.status == ReconciliationRun.Status.FAILED:
            level = DOWN
        elif drift or age > stale_after:
            level = WARN
        else:
            level = OK
        errors = list(run.errors or [])
        rows.append(
            Component(
                f"Reconciliation #{run.account_id}",
                level,
                f"{run.status}; {run.fills_repaired} fills repaired, {run.orders_resolved} orders resolved"
                + (f"; drift in {', '.join(drift)}" if drift else ""),
                lag=_seconds(age),
                last_error=str(errors[-1]) if errors else "",
            )
        )
    return rows or [Component("Reconciliation", UNKNOWN, "no run yet")]


def strategies() -> list[Component]:
    overview = strategy_overview()
    if overview is None:
        return [Component("Strategies", UNKNOWN, "strategy app has no model yet")]
    counts, running = overview
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none"
    oldest = max((seconds for _pk, _name, seconds, _error in running if seconds is not None), default=None)
    errors = counts.get("ERROR", 0)
    return [
        Component(
            "Strategies",
            WARN if errors else OK,
            detail,
            lag=_seconds(oldest),
            last_error=f"{errors} in ERROR" if errors else "",
        )
    ]


def backtests() -> list[Component]:
    overview = backtest_overview()
    if overview is None:
        return [Component("Backtests", UNKNOWN, "backtest app has no model yet")]
    counts, oldest = overview
    return [
        Component(
            "Backtests",
            OK,
            f"{counts.get('QUEUED', 0)} queued, {counts.get('RUNNING', 0)} running, "
            f"{counts.get('FAILED', 0)} failed",
            lag=_seconds(oldest),
        )
    ]


PROBES: tuple[tuple[str, Probe], ...] = (
    ("PostgreSQL", postgresql),
    ("Redis", redis_server),
    ("Celery broker", celery_broker),
    ("Celery workers", workers),
    ("Risk heartbeat", risk),
    ("Kill switch", kill_switch),
    ("User streams", user_streams),
    ("Outbox", outbox),
    ("Reconciliation", reconciliation),
    ("Strategies", strategies),
    ("Backtests", backtests),
)


def components() -> list[Component]:
    found: list[Component] = []
    for name, probe in PROBES:
        try:
            with transaction.atomic():  # a failed query must not break the probes after it
                found.extend(probe())
        except Exception as exc:  # noqa: BLE001 - the page shows it
            found.append(Component(name, DOWN, last_error=f"{type(exc).__name__}: {exc}"))
    return found


@require_GET
@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    found = components()
    worst = (
        DOWN if any(c.state == DOWN for c in found) else WARN if any(c.state == WARN for c in found) else OK
    )
    context = {
        "components": found,
        "overall": worst,
        "generated_at": timezone.now(),
        "refresh_seconds": settings.OPS_DASHBOARD_REFRESH_SECONDS,
    }
    return render(request, "ops/dashboard.html", context)
