"""Acceptance: with a real Celery worker (queue `outbox`) running against the test database, a
fill recorded through execution shows in positions within 2 seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from apps.core.testing import url_of_test_database
from apps.execution.services.outbox import _RELAY_DEBOUNCE_KEY
from apps.execution.tests.factories import AccountFactory
from apps.portfolio import selectors
from apps.portfolio.models import Position

from .factories import T0, fill, instruments, order_for

WORKER_START_TIMEOUT = 60
VISIBLE_WITHIN = 2.0


def _wait_until_ready(log: Path, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"worker exited early:\n{log.read_text()}")
        if " ready." in log.read_text():
            return
        time.sleep(0.1)
    pytest.fail(f"worker not ready after {WORKER_START_TIMEOUT}s:\n{log.read_text()}")


def _seen_within(account_id: int, quantity: Decimal) -> float | None:
    """Seconds until the account's position shows `quantity`, or None after VISIBLE_WITHIN."""
    recorded = time.monotonic()
    while time.monotonic() - recorded < VISIBLE_WITHIN:
        views, _ = selectors.positions(account_ids=[account_id])
        if views and views[0].quantity == quantity:
            return time.monotonic() - recorded
        time.sleep(0.05)
    return None


@pytest.mark.django_db(transaction=True)
def test_fill_recorded_through_execution_shows_in_positions_within_two_seconds(tmp_path: Path) -> None:
    instruments()
    account = AccountFactory.create()
    order = order_for(account, "BUY", "1")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
        "DATABASE_URL": url_of_test_database(),
        "REDIS_URL": settings.REDIS_URL,
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "tradingbot", "worker", "-Q", "outbox", "--pool", "solo",
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_until_ready(log, worker)
        cache.delete(_RELAY_DEBOUNCE_KEY)  # a nudge from an earlier test must not swallow ours

        fill(order, "0.25", "30000", commission="7.5", asset="USDT", executed_at=T0)  # commits
        assert _seen_within(account.pk, Decimal("0.25")) is not None, log.read_text()
        position = Position.objects.get(account=account)
        assert (position.version, position.fees_paid) == (1, Decimal("7.5"))

        # A fill committed right after the relay ran (well inside the first nudge's old 1 s
        # debounce) queues its own relay: it is not left to the beat sweeper (not running here).
        fill(order, "0.5", "30000", commission="15", asset="USDT", executed_at=T0)
        assert _seen_within(account.pk, Decimal("0.75")) is not None, log.read_text()
        assert Position.objects.get(account=account).version == 2
    finally:
        worker.terminate()
        worker.wait(20)
