"""Acceptance: stopping the real risk worker for longer than RISK_UNAVAILABLE_AFTER_SECONDS
makes the watchdog (run by a real beat, on a worker of another queue) turn the kill switch
on; then new orders are refused and nothing reaches the exchange.

The threshold is 3 s here instead of the production 30 s (the same code path, a shorter
setting); heartbeats every 0.5 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.testing import url_of_test_database
from apps.execution.models import Order
from apps.execution.tests.factories import RecordingVenue
from apps.risk.models import KillSwitchChange
from apps.risk.services import kill_switch_state, redis_keys

from .test_kill_switch import post_order

THRESHOLD = 3.0


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "tradingbot", *args,
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str, logs: list[Path]) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    pytest.fail(f"{what} not seen within {timeout}s:\n" + "\n".join(p.read_text()[-3000:] for p in logs))


@pytest.mark.django_db(transaction=True)
def test_risk_worker_stopped_turns_the_kill_switch_on_and_orders_are_refused(
    tmp_path: Path, api_client, account, venue: RecordingVenue
) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
        "DATABASE_URL": url_of_test_database(),
        "REDIS_URL": settings.REDIS_URL,
        "RISK_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "RISK_UNAVAILABLE_AFTER_SECONDS": str(THRESHOLD),
    }
    risk_log, beat_log = tmp_path / "risk.log", tmp_path / "beat.log"
    risk = _start(["worker", "-Q", "risk", "--pool", "solo", "-n", "risk@%h"], risk_log, env)
    watcher = _start(
        ["worker", "-Q", "outbox", "--pool", "solo", "-n", "outbox@%h", "-B", "-s", str(tmp_path / "beat")],
        beat_log,
        env,
    )
    heartbeat = redis_keys.key("heartbeat")
    try:
        _wait(lambda: redis_keys.client().get(heartbeat) is not None, 60, "a risk heartbeat", [risk_log])
        _wait(lambda: "risk-watchdog" in beat_log.read_text() or "watchdog" in beat_log.read_text(), 60,
              "the watchdog running", [beat_log])  # fmt: skip
        time.sleep(THRESHOLD + 1)
        assert not kill_switch_state().active, "watchdog fired while the risk worker was healthy"

        risk.send_signal(signal.SIGKILL)
        risk.wait(10)
        stopped_at = time.monotonic()
        _wait(lambda: kill_switch_state().active, THRESHOLD + 20, "the kill switch", [beat_log])
        elapsed = time.monotonic() - stopped_at
    finally:
        for proc in (risk, watcher):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    assert elapsed >= THRESHOLD - 1  # not before the threshold (heartbeat age counts from the last beat)
    change = KillSwitchChange.objects.get()
    assert (change.active, change.automatic, change.actor) == (True, True, "risk-watchdog")
    assert "heartbeat" in change.reason

    response = post_order(api_client, account)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "kill_switch_active"
    assert not Order.objects.exists()
    assert venue.placed == []
