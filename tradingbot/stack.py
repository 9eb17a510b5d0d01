"""Run every process of the system in the foreground: migrate, then web, Celery worker,
Celery beat and the user-data stream, each a child process; the first to die (or Ctrl-C)
stops them all.

With DEMO=1 (the default of `bin/run` with no configuration) it is the paper-trading demo:
the local Binance-compatible simulator runs as a child too (random walk, demo account), and
`manage.py demo setup|start` creates the demo user, account, candles and a Grid strategy
and starts it — orders, fills, positions and PnL show up within a minute.

Started by `bin/run` (inside `tradingbot.embedded`, which provides DATABASE_URL/REDIS_URL).
In production run each process under your supervisor instead (see README).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from apps.core.demo import SIM_API_KEY, SIM_API_SECRET

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALL_QUEUES = "execution,outbox,risk,reconciliation,strategy,backtest"


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


SIMULATOR_PORT = os.environ.get("SIMULATOR_PORT", "9100")


def simulator_command() -> list[str]:
    return _python(
        "manage.py", "run_simulator", "--port", SIMULATOR_PORT, "--symbols", "BTCUSDT,ETHUSDT",
        "--random-walk", "--interval", "1", "--step-bps", "8", "--backfill-minutes", "240",
        "--api-key", SIM_API_KEY, "--api-secret", SIM_API_SECRET,
        "--balance", "USDT=100000", "--balance", "BTC=2",
    )  # fmt: skip


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
        "stream": _python("manage.py", "run_user_stream"),
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


def _wait_for_port(port: int, child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"stack: the simulator exited with {child.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise SystemExit(f"stack: the simulator did not listen on {port} within {timeout:.0f}s")


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
    one_shot: dict[str, subprocess.Popen[bytes]] = {}  # expected to exit: not watched
    exit_code = 0
    try:  # from the first child on: a stop during start-up must not orphan what already runs
        _start(host, port, children, one_shot)
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
        _stop_all({**children, **one_shot})
    return exit_code


def _start(
    host: str,
    port: str,
    children: dict[str, subprocess.Popen[bytes]],
    one_shot: dict[str, subprocess.Popen[bytes]],
) -> None:
    """Start the simulator (demo), the process table and the demo strategy; each child is
    registered as soon as it runs, so the caller stops it whatever happens next."""
    demo = os.environ.get("DEMO", "1") == "1"
    if demo:
        os.environ.setdefault("SIMULATOR_BASE_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
        os.environ.setdefault("SIMULATOR_WS_API_URL", f"ws://127.0.0.1:{SIMULATOR_PORT}/ws-api/v3")
        _spawn(children, "simulator", simulator_command())
        _wait_for_port(int(SIMULATOR_PORT), children["simulator"])
        subprocess.run(_python("manage.py", "demo", "setup"), cwd=PROJECT_DIR, check=True)  # noqa: S603
    for name, command in process_table(host, port).items():
        _spawn(children, name, command)
    if demo:
        _spawn(one_shot, "demo-start", _python("manage.py", "demo", "start"))
    print(
        f"\ntradingbot is up: http://{host}:{port}/api/v1/  admin http://{host}:{port}/admin/  "
        f"readiness http://{host}:{port}/health/ready/  dashboard http://{host}:{port}/ops/dashboard/  "
        f"metrics http://{host}:{port}/metrics  (Ctrl-C stops)\n",
        flush=True,
    )


def _spawn(registry: dict[str, subprocess.Popen[bytes]], name: str, command: list[str]) -> None:
    """Start `command` and register it as `name`, with a stop held back until it is
    registered: one landing between the fork and the registration would leave it unseen."""
    with _stops_deferred():
        registry[name] = subprocess.Popen(command, cwd=PROJECT_DIR)  # noqa: S603 - our own process table


@contextlib.contextmanager
def _stops_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM only recorded inside the block, then raised as KeyboardInterrupt.
    A handler, not a blocked mask: a child inherits the mask across exec, not a handler. A
    signal the process ignores (SIGINT in the background) stays ignored, for us and children."""
    got: list[int] = []

    def record(signum: int, frame: object) -> None:
        got.append(signum)

    previous = {
        sig: signal.signal(sig, record)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if got:
        raise KeyboardInterrupt


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
