"""Run every process of the system in the foreground: migrate, then web, Celery worker and
Celery beat, each a child process; the first to die (or Ctrl-C) stops them all.

Started by `bin/run` (inside `tradingbot.embedded`, which provides DATABASE_URL/REDIS_URL).
In production run each process under your supervisor instead (see README).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALL_QUEUES = "execution,outbox,risk,reconciliation,strategy,backtest"


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def process_table(host: str, port: str) -> dict[str, list[str]]:
    data_dir = PROJECT_DIR / ".data"
    data_dir.mkdir(exist_ok=True)
    return {
        "web": _python("manage.py", "runserver", f"{host}:{port}", "--noreload"),
        "worker": _python(
            "-m",
            "celery",
            "-A",
            "tradingbot",
            "worker",
            "-Q",
            ALL_QUEUES,
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "2"),
            "--loglevel",
            "INFO",
        ),
        "beat": _python(
            "-m",
            "celery",
            "-A",
            "tradingbot",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(data_dir / "celerybeat-schedule"),
        ),
    }


def prepare_metrics_directory() -> Path:
    """Metrics in multiprocess mode (docs/MONITORING.md): every child writes its counters
    under PROMETHEUS_MULTIPROC_DIR; files left by an earlier run are removed first, or their
    counters would be added to this run's."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or PROJECT_DIR / ".data" / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops us the way Ctrl-C does, so children and services are shut down."""
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    prepare_metrics_directory()
    subprocess.run(_python("manage.py", "migrate", "--no-input"), cwd=PROJECT_DIR, check=True)  # noqa: S603
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in process_table(host, port).items():
        children[name] = subprocess.Popen(command, cwd=PROJECT_DIR)  # noqa: S603
    print(
        f"\ntradingbot is up: http://{host}:{port}/api/v1/  admin http://{host}:{port}/admin/  "
        f"readiness http://{host}:{port}/health/ready/  dashboard http://{host}:{port}/ops/dashboard/  "
        f"metrics http://{host}:{port}/metrics  (Ctrl-C stops)\n",
        flush=True,
    )
    exit_code = 0
    try:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"stack: {name} exited with {child.returncode}; stopping", file=sys.stderr)
                    exit_code = child.returncode or 1
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(children)
    return exit_code


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan children
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(main())
