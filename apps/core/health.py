"""Readiness checks. Each is a named function returning None or raising; apps add their own
with `register_check` (in their AppConfig.ready) and `/health/ready/` runs them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

HealthCheck = Callable[[], None]
_CHECKS: dict[str, HealthCheck] = {}


InfoProvider = Callable[[], object]
_INFO: dict[str, InfoProvider] = {}


def register_check(name: str, check: HealthCheck) -> None:
    _CHECKS[name] = check


def register_info(name: str, provider: InfoProvider) -> None:
    """A section shown in /health/ready/ that informs without failing readiness."""
    _INFO[name] = provider


def collect_info() -> dict[str, object]:
    info: dict[str, object] = {}
    for name, provider in _INFO.items():
        try:
            info[name] = provider()
        except Exception as exc:  # noqa: BLE001 - informational only
            info[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return info


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


def run_checks() -> list[CheckResult]:
    results = []
    for name, check in _CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - a failing check is reported, never raised
            results.append(CheckResult(name, False, _ms_since(started), f"{type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(name, True, _ms_since(started)))
    return results


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_redis() -> None:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def check_celery_broker() -> None:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


register_check("postgresql", check_database)
register_check("redis", check_redis)
register_check("celery_broker", check_celery_broker)
