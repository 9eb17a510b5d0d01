"""The one-command demo (`python -m tradingbot.stack`, what `bin/run` starts) as a subprocess
of the test run: against the pytest test database, the test Redis, free loopback ports and a
cache key prefix of its own, so it shares nothing with a developer's `bin/run`.

It also records the process tree, so a test can tell whether Ctrl-C left anything behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
# Inherited variables the stack must not take from the test run: it sets its own.
_NOT_INHERITED = ("PROMETHEUS_MULTIPROC_DIR", "SIMULATOR_BASE_URL", "SIMULATOR_WS_API_URL", "DEMO_PASSWORD")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Proc:
    """A process, identified by pid *and* start time (a pid can be reused once it exits)."""

    pid: int
    start_ticks: int
    command: str

    def alive(self) -> bool:
        """Still running (a zombie no longer is: it has exited, only its exit status is left)."""
        stat = _stat(self.pid)
        return stat is not None and stat[2] != "Z" and stat[3] == self.start_ticks


def _stat(pid: int) -> tuple[int, int, str, int] | None:
    """(pid, parent pid, state, start time in clock ticks) from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()  # the command name may contain spaces
    return pid, int(rest[1]), rest[0], int(rest[19])


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def descendants(root: int) -> list[Proc]:
    """Every process below `root` (children, grandchildren …), from one scan of /proc."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[1], []).append((stat[0], stat[3]))
    found: list[Proc] = []
    queue = [root]
    while queue:
        for pid, ticks in parents.get(queue.pop(), []):
            found.append(Proc(pid, ticks, _command(pid)))
            queue.append(pid)
    return found


def _like_a_terminal() -> None:
    """Ctrl-C reaches a program run in a terminal even when this test run was started in the
    background, where SIGINT is ignored (and an ignored signal stays ignored across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DemoStack:
    def __init__(self, *, database_url: str, redis_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.simulator_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.cache_key_prefix = f"e2e{uuid.uuid4().hex[:10]}"
        self.log_path = workdir / "stack.log"
        metrics_dir = workdir / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in _NOT_INHERITED},
            "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
            "DEMO": "1",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "SIMULATOR_PORT": str(self.simulator_port),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": self.cache_key_prefix,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() when the stack was launched
        self.tree: list[Proc] = []

    def start(self, timeout: float = 120.0) -> None:
        """Start `python -m tradingbot.stack` and wait until its web server answers."""
        self.started_at = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "tradingbot.stack"],
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_like_a_terminal,  # noqa: PLW1509 - resets one signal, before exec
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.get("/health/")[0] == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the stack's web server did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.base_url + path)  # noqa: S310 - loopback
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def token(self, username: str, password: str) -> str:
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.base_url + "/api/v1/auth/token/",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(json.loads(response.read())["access"])

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C: SIGINT to the stack process alone (its children must be stopped by it).
        Records the process tree first in `self.tree`; returns the stack's exit code."""
        assert self.process is not None
        self.tree = descendants(self.process.pid)
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Last resort (a failed test): kill the stack and everything below it."""
        if self.process is None:
            return
        for proc in [*descendants(self.process.pid), *self.tree]:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
