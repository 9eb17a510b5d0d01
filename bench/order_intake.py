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

Load generators (`--generators wrk,aiohttp`, both by default): `wrk` (C, one thread, a Lua
script: the same body, a unique Idempotency-Key per request, status codes counted, the id of
every 201 kept) uses a few % of a core where the asyncio/aiohttp generator (in this process)
uses a good part of one of the same cores the server needs. wrk must be installed
(`apt-get install wrk`); without it only aiohttp runs, and the output says so. Every cell's
baseline runs with the same generator. wrk stops at its deadline with up to one request per
connection unanswered (possibly committed): accepted orders are checked by id (every 201's
order is in the database) and the stored count may exceed the 201s by at most that many.

For each worker count (`--workers 2,3,4`) and concurrency (`--concurrency-per-worker 1,2`,
times the workers): `--warmup` s of load (discarded), then `--duration` s measured.
`--worker-class gthread --threads 2` runs threaded workers instead of sync ones.
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
import resource
import secrets
import shutil
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

    def __init__(
        self,
        workers: int,
        env: Mapping[str, str],
        log_dir: Path,
        worker_class: str = "sync",
        threads: int = 1,
    ) -> None:
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.access_log = log_dir / f"access-w{workers}.log"
        self.error_log = log_dir / f"error-w{workers}.log"
        self._env = {**os.environ, **env}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def kind(self) -> str:
        """'' for sync workers, 'x2t' for gthread workers with 2 threads (in labels)."""
        return "" if self.worker_class == "sync" else f"x{self.threads}t"

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
                self.worker_class,
                "--threads",
                str(self.threads),
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
    summary_ms: dict[str, float] | None = None  # wrk: its own percentiles (no per-request list)
    accepted_ids: list[int] = field(default_factory=list)  # wrk: the order id of every 201
    errors: dict[str, int] = field(default_factory=dict)  # wrk: socket errors and timeouts
    generator_cpu_s: float = 0.0  # CPU the load generator used during the run


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
    cpu_before = time.process_time()
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
    result.generator_cpu_s = time.process_time() - cpu_before  # this process: the generator
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


# --- wrk: a C load generator (same closed loop, far less CPU) -----------------------------------

WRK = shutil.which("wrk")

WRK_SCRIPT = r"""
-- Generated by bench/order_intake.py. Every request: the same method, path and body, and
-- a fresh Idempotency-Key (this run's prefix, the thread, a counter). Counts status codes
-- and keeps the "id" of every 201; `done` writes both and the latency percentiles as JSON.
local threads = {}
local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
local counter = 0
statuses, ids, sample = {}, {}, ""  -- globals: `done` reads them with thread:get
function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = PREFIX .. "-" .. tid .. "-" .. counter
  return wrk.format(METHOD, PATH, nil, BODY)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local id = string.match(body, '"id":%s*(%d+)')
    if id then table.insert(ids, id) end
  elseif status >= 300 and sample == "" then
    sample = status .. " " .. string.sub(body, 1, 300)
  end
end
function done(summary, latency, requests)
  local out = io.open(OUT, "w")
  local st, all_ids, first = {}, {}, ""
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do st[code] = (st[code] or 0) + n end
    for _, id in ipairs(t:get("ids")) do table.insert(all_ids, id) end
    if first == "" then first = t:get("sample") end
  end
  local parts = {}
  for code, n in pairs(st) do table.insert(parts, string.format('"%d": %d', code, n)) end
  local e = summary.errors
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "statuses": {%s}, "ids": [%s], ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"count": %d, "mean": %f, "p50": %d, "p95": %d, "p99": %d, "max": %d}, ' ..
    '"sample": "%s"}',
    summary.duration, summary.requests, table.concat(parts, ", "), table.concat(all_ids, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    summary.requests, latency.mean, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, (string.gsub(first, '[%c"\\]', " "))))
  out:close()
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def wrk_run(base_url: str, endpoint: Endpoint, *, concurrency: int, duration: float) -> Load:
    """One wrk run (1 thread, `concurrency` connections, closed loop) of `duration` s."""
    headers = {k: v for k, v in endpoint.headers().items() if k != "Idempotency-Key"}
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        out = Path(tmp) / "out.json"
        script = Path(tmp) / "intake.lua"
        script.write_text(
            f"PREFIX = {_lua_string(uuid.uuid4().hex)}\n"
            f"METHOD = {_lua_string(endpoint.method)}\n"
            f"PATH = {_lua_string(endpoint.path)}\n"
            f"BODY = {_lua_string(endpoint.body.decode()) if endpoint.body else 'nil'}\n"
            f"OUT = {_lua_string(str(out))}\n" + WRK_SCRIPT
        )
        argv = [str(WRK), "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "60s",
                "-s", str(script)]  # fmt: skip
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        argv.append(base_url + endpoint.path)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, check=True, capture_output=True)  # noqa: S603 - fixed argv
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        data = json.loads(out.read_text())
    seconds = data["duration_us"] / 1e6
    return Load(
        requests=int(data["requests"]),
        seconds=seconds,
        statuses=Counter({int(k): int(v) for k, v in data["statuses"].items()}),
        sample_error=str(data["sample"]),
        summary_ms={k: (v / 1000 if k != "count" else v) for k, v in data["latency_us"].items()},
        accepted_ids=[int(i) for i in data["ids"]],
        errors={k: int(v) for k, v in data["errors"].items() if v},
        generator_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


# --- a measurement -------------------------------------------------------------------------------------


def measure(
    server: Gunicorn, endpoint: Endpoint, concurrency: int, warmup: float, duration: float, generator: str
) -> dict[str, Any]:
    def run(seconds: float) -> Load:
        if generator == "wrk":
            return wrk_run(server.base_url, endpoint, concurrency=concurrency, duration=seconds)
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
    ids: list[int] = []  # wrk: the order of every 201, all runs
    runs = [0]

    def tally(load: Load) -> None:
        sent.update(load.statuses)
        ids.extend(load.accepted_ids)
        runs[0] += 1

    def warm_up() -> None:
        tally(run(warmup))

    def measured() -> tuple[Load, list[float]]:
        start = server.log_offset()
        load = run(duration)
        time.sleep(0.3)  # let the workers' last access-log lines land
        tally(load)
        return load, server.server_times_ms(start, server.log_offset(), endpoint.method, endpoint.path)

    label = f"{generator} w={server.workers}{server.kind} c={concurrency} {endpoint.label}"
    (load, server_ms), other_cpu = benchlib.measure_quietly(label, measured, warm_up)
    ok = load.statuses.get(endpoint.ok_status, 0)
    result: dict[str, Any] = {
        "generator": generator,
        "endpoint": endpoint.label,
        "workers": server.workers,
        "worker_class": server.worker_class,
        "threads": server.threads,
        "concurrency": concurrency,
        "requests": load.requests,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "seconds": round(load.seconds, 3),
        "ok_per_second": round(ok / load.seconds, 1),
        "client_latency_ms": load.summary_ms or benchlib.latency_summary_ms(load.latencies),
        "generator_cpu_pct_of_core": round(100 * load.generator_cpu_s / load.seconds, 1),
        "socket_errors": load.errors,
        "server_time_ms": benchlib.latency_summary_ms(ms / 1000 for ms in server_ms),
        "other_cpu_pct": round(other_cpu, 1),
        "ok_all_attempts": sent.get(endpoint.ok_status, 0),
        "accepted_ids": ids,
        "runs": runs[0],
        "sample_error": load.sample_error,
    }
    client = result["client_latency_ms"]
    srv = result["server_time_ms"]
    print(
        f"{generator:<7} w={server.workers}{server.kind} c={concurrency:<2} {endpoint.label:<28} "
        f"{result['ok_per_second']:7.1f} ok/s  "
        f"client {benchlib.fmt_latency(client)}  server p50 {srv.get('p50', float('nan')):.2f} "
        f"p99 {srv.get('p99', float('nan')):.2f} ms  generator {result['generator_cpu_pct_of_core']:.0f}% "
        f"of a core  statuses {result['statuses']}{' errors ' + str(load.errors) if load.errors else ''}"
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


def check_accepted_orders_stored(results: list[dict[str, Any]], account_id: int, created: int) -> None:
    """Every 201 is an order in the database. aiohttp waits for every answer, so the counts
    are equal; wrk stops with up to one request per connection unanswered (possibly stored),
    so its 201s are checked by order id and the count may exceed them by that many."""
    from apps.execution.models import Order

    posts = [r for r in results if r["endpoint"].startswith("POST")]
    accepted = sum(r["ok_all_attempts"] for r in posts)
    unanswered = sum(r["runs"] * r["concurrency"] for r in posts if r["generator"] == "wrk")
    ids = [i for r in posts for i in r["accepted_ids"]]
    found = Order.objects.filter(account_id=account_id, pk__in=ids).count() if ids else 0
    print(
        f"orders in the database: +{created}; 201 answers: {accepted} "
        f"(wrk: {len(ids)} order ids, {found} found; at most {unanswered} cut off at wrk's deadline)"
    )
    if found != len(ids) or len(set(ids)) != len(ids):
        raise AssertionError(f"{len(ids)} accepted order ids, {found} of them stored")
    if not accepted <= created <= accepted + unanswered:
        raise AssertionError(f"{accepted} orders accepted but {created} stored")


def run_grid(
    env: Mapping[str, str],
    worker_counts: list[int],
    worker_class: str,
    threads: int,
    multiples: list[int],
    warmup: float,
    duration: float,
    password: str,
    account_id: int,
    generators: list[str],
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gunicorn-") as log_dir:
        for workers in worker_counts:
            with Gunicorn(workers, env, Path(log_dir), worker_class, threads) as server:
                token = obtain_token(server.base_url, password)
                for multiple in multiples:
                    for generator in generators:
                        for endpoint in endpoints(token, account_id):
                            concurrency = workers * multiple
                            results.append(
                                measure(server, endpoint, concurrency, warmup, duration, generator)
                            )
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
    from apps.core import broker

    real_publish = broker.publish_task

    with benchlib.time_sql() as spent:
        broker.publish_task = spent.wrap("Celery publish to Redis (after commit)", real_publish)  # type: ignore[method-assign]
        try:
            start = time.perf_counter()
            for _ in range(requests):
                post()
            total = time.perf_counter() - start
        finally:
            broker.publish_task = real_publish  # type: ignore[method-assign]
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
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--concurrency-per-worker", default="1,2", help="client connections per worker")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument(
        "--generators",
        default="wrk,aiohttp",
        help="load generators: wrk (C), aiohttp (in process)",
    )
    args = parser.parse_args()
    generators = [g for g in args.generators.split(",") if g]
    if "wrk" in generators and WRK is None:
        print("wrk is not installed (apt-get install wrk): measuring with the aiohttp generator only")
        generators = [g for g in generators if g != "wrk"] or ["aiohttp"]
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
        f"order intake: gunicorn {args.worker_class} workers {worker_counts} x {args.threads} threads, "
        f"concurrency {multiples} x workers, generators {generators}, "
        f"{args.warmup} s warm-up + {args.duration} s measured; target >= {TARGET_ORDERS_PER_SECOND} "
        f"orders/s with p99 <= {TARGET_P99_MS} ms"
    )
    try:
        results = run_grid(
            env,
            worker_counts,
            args.worker_class,
            args.threads,
            multiples,
            args.warmup,
            args.duration,
            password,
            account_id,
            generators,
        )
        check_accepted_orders_stored(results, account_id, count_orders(account_id) - orders_before)
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
            "server": f"gunicorn 23, {args.worker_class} workers x {args.threads} threads, "
            "tradingbot.settings.production, 127.0.0.1",
            "warmup_seconds": args.warmup,
            "duration_seconds": args.duration,
            "results": results,
            "profile": profile_data,
        },
    )


if __name__ == "__main__":
    main()
