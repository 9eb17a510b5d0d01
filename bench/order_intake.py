"""`POST /api/v1/orders/` under gunicorn, driven by a local asyncio/aiohttp load generator.

gunicorn runs `tradingbot.wsgi:application` with `tradingbot.settings.production` (sync
workers, 127.0.0.1, a free port) against the benchmark database and Redis db 2; no Celery
worker runs, so each accepted order stays NEW and its send task just waits in Redis (flushed
at the end). The measured intake is everything up to the 201: JWT authentication, the
Idempotency-Key claim and completion, validation against the symbol's filters, the kill
switch and pre-trade gates, the order and its event committed, the Celery task published
after commit; never the exchange round trip.

Each client connection (closed loop: send, wait for the answer, send again) posts
{"account", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
"price": "30000.00"} with a fresh Idempotency-Key. Baseline, same server and load:
`GET /api/v1/me/` (authenticated, one user lookup, no writes).

For each worker count (`--workers 2,3,4`) and concurrency (`--concurrency-per-worker 1,2`,
times the workers): `--warmup` s of load (discarded), then `--duration` s measured.
Latency is the client's (includes the listen-queue wait); the server's own time per
request comes from gunicorn's access log (%(D)s).

    .venv/bin/python bench/order_intake.py [--workers 2,3,4] [--duration 15]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import benchlib

TARGET_ORDERS_PER_SECOND = 300
TARGET_P99_MS = 50.0
USERNAME = "bench-http"
GUNICORN = Path(sys.executable).parent / "gunicorn"
STATIC_WARNING = "No directory at"


def server_env() -> dict[str, str]:
    """Production settings with throwaway secrets, rate limits off, the benchmark stores."""
    from cryptography.fernet import Fernet

    return benchlib.bench_env(
        benchlib.PRODUCTION_SETTINGS,
        SECRET_KEY=secrets.token_urlsafe(48),
        JWT_SIGNING_KEY=secrets.token_urlsafe(48),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1",
        RATELIMIT_ENABLE="false",
        JWT_ACCESS_LIFETIME_SECONDS="7200",
        # whitenoise warns once per process that `collectstatic` has not been run; the API
        # serves no static files, so the benchmark keeps that line out of its output.
        PYTHONWARNINGS=f"ignore:{STATIC_WARNING}",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """gunicorn in a child process; the access log records each request's own duration."""

    def __init__(self, workers: int, env: Mapping[str, str], log_dir: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.access_log = log_dir / f"access-w{workers}.log"
        self.error_log = log_dir / f"error-w{workers}.log"
        self._env = {**os.environ, **env}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, the venv's gunicorn
            [
                str(GUNICORN),
                "tradingbot.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--backlog",
                "2048",
                "--timeout",
                "60",
                "--access-logfile",
                str(self.access_log),
                "--access-logformat",
                "%(m)s %(U)s %(s)s %(D)s",
                "--error-logfile",
                str(self.error_log),
                "--log-level",
                "warning",
            ],
            cwd=benchlib.ROOT,
            env=self._env,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.error_log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health/", timeout=2) as resp:  # noqa: S310 - our URL
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health/ within {timeout} s")

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)  # graceful stop of this gunicorn only
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_times_ms(self, start: int, end: int, method: str, path: str) -> list[float]:
        """Request durations gunicorn logged between two offsets of its access log."""
        with self.access_log.open("rb") as log:
            log.seek(start)
            lines = log.read(end - start).decode().splitlines()
        out = []
        for line in lines:
            parts = line.split()
            if len(parts) == 4 and parts[0] == method and parts[1] == path:
                out.append(int(parts[3]) / 1000)
        return out


# --- load generator ---------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sample_error: str = ""


async def closed_loop(
    base_url: str,
    method: str,
    path: str,
    headers: Callable[[], dict[str, str]],
    body: bytes | None,
    *,
    concurrency: int,
    duration: float,
) -> Load:
    """`concurrency` clients, each sending its next request as soon as the previous one is
    answered, until `duration` s have passed."""
    result = Load()
    clock = time.perf_counter
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        deadline = clock() + duration

        async def client() -> None:
            while clock() < deadline:
                t = clock()
                async with session.request(method, path, data=body, headers=headers()) as resp:
                    payload = await resp.read()
                result.latencies.append(clock() - t)
                result.statuses[resp.status] += 1
                if resp.status >= 300 and not result.sample_error:
                    result.sample_error = f"{resp.status} {payload[:300]!r}"

        start = clock()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.seconds = clock() - start
    result.requests = len(result.latencies)
    return result


@dataclass
class Endpoint:
    label: str
    method: str
    path: str
    ok_status: int
    headers: Callable[[], dict[str, str]]
    body: bytes | None


def endpoints(token: str, account_id: int) -> list[Endpoint]:
    auth = {"Authorization": f"Bearer {token}"}
    order = {
        "account": account_id,
        "symbol": benchlib.SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": "30000.00",
    }
    return [
        Endpoint("GET /api/v1/me/ (baseline)", "GET", "/api/v1/me/", 200, lambda: dict(auth), None),
        Endpoint(
            "POST /api/v1/orders/",
            "POST",
            "/api/v1/orders/",
            201,
            lambda: {**auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
            json.dumps(order).encode(),
        ),
    ]


def obtain_token(base_url: str, password: str) -> str:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - our URL
        f"{base_url}/api/v1/auth/token/",
        data=json.dumps({"username": USERNAME, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - our URL
        return str(json.loads(resp.read())["access"])


# --- a measurement -------------------------------------------------------------------------------------


def measure(
    server: Gunicorn, endpoint: Endpoint, concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    def run(seconds: float) -> Load:
        return asyncio.run(
            closed_loop(
                server.base_url,
                endpoint.method,
                endpoint.path,
                endpoint.headers,
                endpoint.body,
                concurrency=concurrency,
                duration=seconds,
            )
        )

    sent: Counter[int] = Counter()  # every answer, warm-ups and repeated attempts included

    def warm_up() -> None:
        sent.update(run(warmup).statuses)

    def measured() -> tuple[Load, list[float]]:
        start = server.log_offset()
        load = run(duration)
        time.sleep(0.3)  # let the workers' last access-log lines land
        sent.update(load.statuses)
        return load, server.server_times_ms(start, server.log_offset(), endpoint.method, endpoint.path)

    label = f"w={server.workers} c={concurrency} {endpoint.label}"
    (load, server_ms), other_cpu = benchlib.measure_quietly(label, measured, warm_up)
    ok = load.statuses.get(endpoint.ok_status, 0)
    result: dict[str, Any] = {
        "endpoint": endpoint.label,
        "workers": server.workers,
        "concurrency": concurrency,
        "requests": load.requests,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "seconds": round(load.seconds, 3),
        "ok_per_second": round(ok / load.seconds, 1),
        "client_latency_ms": benchlib.latency_summary_ms(load.latencies),
        "server_time_ms": benchlib.latency_summary_ms(ms / 1000 for ms in server_ms),
        "other_cpu_pct": round(other_cpu, 1),
        "ok_all_attempts": sent.get(endpoint.ok_status, 0),
        "sample_error": load.sample_error,
    }
    client = result["client_latency_ms"]
    srv = result["server_time_ms"]
    print(
        f"w={server.workers} c={concurrency:<2} {endpoint.label:<28} {result['ok_per_second']:7.1f} ok/s  "
        f"client {benchlib.fmt_latency(client)}  server p50 {srv.get('p50', float('nan')):.2f} "
        f"p99 {srv.get('p99', float('nan')):.2f} ms  statuses {result['statuses']}"
        f"{benchlib.other_cpu_note(other_cpu)}",
        flush=True,
    )
    if load.sample_error:
        print(f"    first error: {load.sample_error}")
    return result


def count_orders(account_id: int) -> int:
    from django.db import connections

    from apps.execution.models import Order

    count = Order.objects.filter(account_id=account_id).count()
    connections.close_all()
    return count


def run_grid(
    env: Mapping[str, str],
    worker_counts: list[int],
    multiples: list[int],
    warmup: float,
    duration: float,
    password: str,
    account_id: int,
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gunicorn-") as log_dir:
        for workers in worker_counts:
            with Gunicorn(workers, env, Path(log_dir)) as server:
                token = obtain_token(server.base_url, password)
                for multiple in multiples:
                    for endpoint in endpoints(token, account_id):
                        results.append(measure(server, endpoint, workers * multiple, warmup, duration))
    return results


# --- profile: the same request in-process (no HTTP server), cProfile and a time breakdown ----------------


def in_process_poster(account_id: int, password: str) -> Callable[[], int]:
    """A function POSTing one order through Django's test client (no HTTP server)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    resp = client.post(
        "/api/v1/auth/token/", {"username": USERNAME, "password": password}, content_type="application/json"
    )
    auth = f"Bearer {resp.json()['access']}"
    body = {
        "account": account_id,
        "symbol": benchlib.SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.001",
        "price": "30000.00",
    }

    def post() -> int:
        response = client.post(
            "/api/v1/orders/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        return int(response.status_code)

    return post


def time_breakdown(post: Callable[[], int], requests: int) -> dict[str, Any]:
    """Per request: SQL by statement, COMMIT, the Celery publish, and the rest (Python)."""
    from apps.execution import tasks

    real_task = tasks.submit_order_to_exchange

    with benchlib.time_sql() as spent:

        class TimedTask:
            delay = staticmethod(spent.wrap("Celery publish to Redis (after commit)", real_task.delay))

        tasks.submit_order_to_exchange = TimedTask  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            for _ in range(requests):
                post()
            total = time.perf_counter() - start
        finally:
            tasks.submit_order_to_exchange = real_task
    per_request = spent.per_unit_ms(total, requests, "Python (the rest: middleware, JWT x2, DRF, validation)")
    ms = round(total / requests * 1000, 3)
    benchlib.print_breakdown(
        f"where one in-process POST spends its {ms} ms (mean of {requests})", per_request
    )
    return {"ms_per_request": ms, "breakdown_ms": per_request}


def profile(account_id: int, password: str, requests: int) -> dict[str, Any]:
    """POST orders in this process: the SQL of one request, where the time goes, cProfile."""
    import cProfile

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post = in_process_poster(account_id, password)
    for _ in range(50):
        post()
    with CaptureQueriesContext(connection) as ctx:
        status = post()
    sql = [q["sql"][:200] for q in ctx.captured_queries]
    print(f"one POST ({status}): {len(sql)} SQL statements, BEGIN/COMMIT included:")
    for statement in sql:
        print(f"    {statement[:150]}")
    breakdown = time_breakdown(post, requests)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        post()
    profiler.disable()
    print(f"--- cProfile: {requests} in-process POST /api/v1/orders/ ---")
    return {
        "statements_per_post": len(sql),
        "sql": sql,
        "breakdown": breakdown,
        "cprofile": benchlib.print_profile(profiler),
    }


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="2,3,4", help="gunicorn worker counts to try")
    parser.add_argument("--concurrency-per-worker", default="1,2", help="client connections per worker")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    multiples = [int(m) for m in args.concurrency_per_worker.split(",")]

    warnings.filterwarnings("ignore", message=STATIC_WARNING)
    env = server_env()
    benchlib.ensure_database(env)
    benchlib.setup_django(benchlib.PRODUCTION_SETTINGS, **env)
    benchlib.warn_if_redis_in_use()
    info = benchlib.machine()
    benchlib.print_machine(info)
    password = secrets.token_urlsafe(24)
    account_id = benchlib.trading_account(USERNAME, password).pk
    orders_before = count_orders(account_id)
    print(
        f"order intake: gunicorn sync workers {worker_counts}, concurrency {multiples} x workers, "
        f"{args.warmup} s warm-up + {args.duration} s measured; target >= {TARGET_ORDERS_PER_SECOND} "
        f"orders/s with p99 <= {TARGET_P99_MS} ms"
    )
    try:
        results = run_grid(env, worker_counts, multiples, args.warmup, args.duration, password, account_id)
        created = count_orders(account_id) - orders_before
        accepted = sum(r["ok_all_attempts"] for r in results if r["endpoint"].startswith("POST"))
        print(f"orders in the database: +{created}; 201 answers: {accepted}")
        if created != accepted:
            raise AssertionError(f"{accepted} orders accepted but {created} stored")
        profile_data = profile(account_id, password, 500) if args.profile else None
    finally:
        benchlib.flush_redis()
    benchlib.write_json(
        args.json,
        {
            "benchmark": "order_intake",
            "target_orders_per_second": TARGET_ORDERS_PER_SECOND,
            "target_p99_ms": TARGET_P99_MS,
            "machine": info,
            "server": "gunicorn 23, sync workers, tradingbot.settings.production, 127.0.0.1",
            "warmup_seconds": args.warmup,
            "duration_seconds": args.duration,
            "results": results,
            "profile": profile_data,
        },
    )


if __name__ == "__main__":
    main()
