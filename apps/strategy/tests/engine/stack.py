"""The real processes of the live path for end-to-end tests: a Celery worker serving every
queue, a separate beat, and the user-data stream — all against the test database, the test
Redis and an in-process simulator on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.testing import url_of_test_database
from apps.exchange.simulator.server import SimulatorServer

QUEUES = "execution,outbox,risk,reconciliation,strategy"


class Stack:
    def __init__(self, sim: SimulatorServer, tmp: Path, *, reconcile_every: int = 100000) -> None:
        """`reconcile_every`: reconciliation's beat interval in seconds (off by default, as
        the happy path must settle without it)."""
        self.tmp = tmp
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
            "DATABASE_URL": url_of_test_database(),
            "REDIS_URL": settings.REDIS_URL,
            "SIMULATOR_BASE_URL": sim.base_url,
            "SIMULATOR_WS_API_URL": sim.ws_api_url,
            "STRATEGY_SUPERVISE_INTERVAL_SECONDS": "0.5",
            "CANDLE_POLL_INTERVAL_SECONDS": "100000",  # candles are replayed by the test
            "RECONCILE_INTERVAL_SECONDS": str(reconcile_every),
            "RISK_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}-{self.starts.get(name, 0)}.log"

    def start(self, name: str) -> None:
        commands = {
            "worker": [sys.executable, "-m", "celery", "-A", "tradingbot", "worker", "-Q", QUEUES, "-c", "2",
                       "--without-mingle", "--without-gossip", "--loglevel", "INFO", "-n", "e2e@%h"],
            "beat": [sys.executable, "-m", "celery", "-A", "tradingbot", "beat", "--loglevel", "INFO",
                     "-s", str(self.tmp / "beat-schedule")],
            "stream": [sys.executable, "manage.py", "run_user_stream"],
        }  # fmt: skip
        self.starts[name] = self.starts.get(name, 0) + 1
        self.procs[name] = subprocess.Popen(  # noqa: S603
            commands[name], env=self.env, stdout=self.log(name).open("wb"), stderr=subprocess.STDOUT
        )
        markers = {"worker": " ready.", "beat": "beat: Starting", "stream": ""}
        if markers[name]:
            self.wait(lambda: markers[name] in self.log(name).read_text(), 60, f"{name} ready")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        self.wait_clear(lambda: None if predicate() else "", timeout, what)

    def wait_clear(self, blocker: Callable[[], str | None], timeout: float, what: str) -> None:
        """Wait until `blocker` returns None; on timeout, fail with its last answer (what was
        still in the way) and the processes' logs."""
        deadline, reason = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            reason = blocker()
            if reason is None:
                return
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited:\n{self.log(name).read_text()[-4000:]}")
            time.sleep(0.1)
        logs = "\n".join(f"--- {n}\n{self.log(n).read_text()[-3000:]}" for n in self.procs)
        pytest.fail(f"{what} not reached within {timeout}s: {reason}\n{logs}")
