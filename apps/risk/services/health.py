"""Risk's own health: a heartbeat from every risk worker process, failures of validation,
and the watchdog (on beat, on a queue risk workers do not serve) that turns the kill switch
on when risk has been unavailable for longer than RISK_UNAVAILABLE_AFTER_SECONDS."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis
from django.conf import settings

from . import redis_keys
from .kill_switch import activate_kill_switch, kill_switch_state
from .triggers import first_trigger_reason

logger = logging.getLogger(__name__)


def publish_heartbeat(now: float | None = None) -> None:
    redis_keys.client().set(redis_keys.key("heartbeat"), str(now or time.time()))


def start_heartbeat_thread(interval: float | None = None) -> threading.Thread:
    """Publish a heartbeat every `interval` seconds for as long as this process lives."""
    period = interval or settings.RISK_HEARTBEAT_INTERVAL_SECONDS

    def beat() -> None:
        while True:
            try:
                publish_heartbeat()
            except redis.RedisError:
                logger.warning("risk heartbeat could not be published")
            time.sleep(period)

    thread = threading.Thread(target=beat, name="risk-heartbeat", daemon=True)
    thread.start()
    return thread


def record_validation_failure(now: float | None = None) -> None:
    with contextlib.suppress(redis.RedisError):
        redis_keys.client().set(redis_keys.key("failing-since"), str(now or time.time()), nx=True)


def record_validation_success() -> None:
    with contextlib.suppress(redis.RedisError):
        redis_keys.client().delete(redis_keys.key("failing-since"))


def risk_unavailable_reason(now: float | None = None) -> str | None:
    """Why risk counts as unavailable now, or None if it is healthy."""
    now = now or time.time()
    limit = settings.RISK_UNAVAILABLE_AFTER_SECONDS
    r = redis_keys.client()
    heartbeat = r.get(redis_keys.key("heartbeat"))
    if heartbeat is None:
        return "risk unavailable: no risk worker heartbeat has ever been seen"
    age = now - float(heartbeat)  # type: ignore[arg-type]
    if age > limit:
        return f"risk unavailable: no risk worker heartbeat for {age:.0f}s (limit {limit}s)"
    failing_since = r.get(redis_keys.key("failing-since"))
    if failing_since is not None and now - float(failing_since) > limit:  # type: ignore[arg-type]
        return f"risk unavailable: validations failing for {now - float(failing_since):.0f}s"  # type: ignore[arg-type]
    return None


def run_watchdog(now: float | None = None) -> str | None:
    """Activate the kill switch if risk is unavailable or an enabled automatic trigger holds;
    returns the reason when it did."""
    if kill_switch_state().active:
        return None
    reason = risk_unavailable_reason(now) or first_trigger_reason()
    if reason is None:
        return None
    activate_kill_switch(reason=reason, actor="risk-watchdog", automatic=True)
    return reason
