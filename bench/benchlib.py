"""Shared setup for the benchmarks: the benchmark database, Django, machine facts, statistics.

The benchmarks are plain scripts (`.venv/bin/python bench/<name>.py`); this module sits next
to them, so it is importable as `benchlib` and puts the project root on `sys.path`.

Everything goes to a dedicated database (`BENCH_DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/tradingbot_bench, created here and migrated with
`manage.py migrate`) and a dedicated Redis database (`BENCH_REDIS_URL`, default
redis://127.0.0.1:6379/2, flushed when a benchmark ends).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from apps.execution.models import ExchangeAccount

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PYTHON = sys.executable

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingbot_bench"
)
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
SYMBOL = "BTCUSDT"
TEST_SETTINGS = "tradingbot.settings.test"
PRODUCTION_SETTINGS = "tradingbot.settings.production"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- environment and database ----------------------------------------------------------------


def bench_env(settings_module: str = TEST_SETTINGS, **extra: str) -> dict[str, str]:
    """Environment variables pointing Django at the benchmark database and Redis."""
    env = {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": BENCH_DATABASE_URL,
        "REDIS_URL": BENCH_REDIS_URL,
        "CACHE_KEY_PREFIX": "tbbench",
        "LOG_LEVEL": "WARNING",
        "RATELIMIT_ENABLE": "false",
    }
    env.update(extra)
    return env


def _database_name() -> str:
    return urlsplit(BENCH_DATABASE_URL).path.lstrip("/")


def _admin_url() -> str:
    """The same server, `postgres` maintenance database (for CREATE DATABASE)."""
    parts = urlsplit(BENCH_DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))


def ensure_database(env: Mapping[str, str] | None = None) -> None:
    """Create the benchmark database if it is missing, then apply all migrations."""
    import psycopg  # noqa: PLC0415 - only the setup step needs a raw connection
    from psycopg import sql  # noqa: PLC0415

    name = _database_name()
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    child_env = {**os.environ, **(env or bench_env())}
    subprocess.run(  # noqa: S603 - fixed argv, our own interpreter and manage.py
        [PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=child_env,
        check=True,
    )


def setup_django(settings_module: str = TEST_SETTINGS, **extra_env: str) -> None:
    """Point this process at the benchmark database and Redis, then `django.setup()`."""
    os.environ.update(bench_env(settings_module, **extra_env))
    import django  # noqa: PLC0415 - configured above, before anything touches settings

    django.setup()


def truncate(*tables: str) -> None:
    """Empty tables (RESTART IDENTITY CASCADE). TRUNCATE bypasses the row triggers that
    keep `execution_orderevent` append-only, so the benchmark can start from scratch."""
    from django.db import connection  # noqa: PLC0415

    quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


def vacuum_analyze(*tables: str) -> None:
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")


def trading_account(username: str, password: str | None = None) -> ExchangeAccount:
    """BTCUSDT (Binance's filters) and a simulated account owned by `username`, created
    through the app's services; an existing user gets `password` set again."""
    from decimal import Decimal  # noqa: PLC0415

    from django.contrib.auth import get_user_model  # noqa: PLC0415

    from apps.core.domain import SymbolFilters  # noqa: PLC0415
    from apps.exchange.services import upsert_instrument  # noqa: PLC0415
    from apps.execution.models import ExchangeAccount  # noqa: PLC0415
    from apps.execution.services import create_account  # noqa: PLC0415

    upsert_instrument(
        exchange="binance",
        filters=SymbolFilters(
            symbol=SYMBOL,
            base_asset="BTC",
            quote_asset="USDT",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.00001"),
            min_qty=Decimal("0.00001"),
            max_qty=Decimal("9000"),
            min_price=Decimal("0.01"),
            max_price=Decimal("1000000"),
            min_notional=Decimal("5"),
        ),
    )
    user, _ = get_user_model().objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    account = ExchangeAccount.objects.filter(owner=user, name="bench").first()
    return account or create_account(owner=user, name="bench", mode="simulated")


def redis_keys() -> int:
    import redis  # noqa: PLC0415

    with redis.Redis.from_url(BENCH_REDIS_URL) as client:
        return int(client.dbsize())


def flush_redis() -> None:
    """Empty the benchmark's own Redis database (queued Celery tasks nobody consumes)."""
    import redis  # noqa: PLC0415

    with redis.Redis.from_url(BENCH_REDIS_URL) as client:
        client.flushdb()


def warn_if_redis_in_use() -> None:
    keys = redis_keys()
    if keys:
        print(f"note: {BENCH_REDIS_URL} already holds {keys} keys; it is flushed when the benchmark ends")


# --- machine description ---------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def cpu_calibration_ms(repeats: int = 7) -> float:
    """Best-of time of a fixed pure-Python workload (JSON and Decimal, like a request's):
    compares this machine's speed between runs, since a VM's can drift with its host."""
    import json as json_module  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    payload = {"symbol": "BTCUSDT", "price": "30000.01", "quantity": "0.001", "ids": list(range(20))}
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        total = Decimal(0)
        for i in range(3000):
            data = json_module.loads(json_module.dumps({**payload, "n": i}))
            total += Decimal(data["price"]) * Decimal(data["quantity"])
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, PostgreSQL version and the settings that shape commit cost."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(BENCH_DATABASE_URL, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        pg_settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("synchronous_commit", "fsync", "shared_buffers", "max_connections")
        }
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "ram_gib": round(_mem_total_gib(), 1),
        "postgresql": version[0] if version else "unknown",
        "postgresql_settings": {k: v[0] if v else None for k, v in pg_settings.items()},
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
        "cpu_calibration_ms": cpu_calibration_ms(),
    }


def print_machine(info: Mapping[str, Any]) -> None:
    print(
        f"machine: nproc={info['nproc']} cpu={info['cpu_model']!r} ram={info['ram_gib']} GiB "
        f"postgresql={info['postgresql']} {info['postgresql_settings']} python={info['python']} "
        f"load={tuple(round(x, 2) for x in info['load_average_at_start'])} "
        f"calibration={info['cpu_calibration_ms']} ms"
    )


def start() -> dict[str, Any]:
    """What every in-process benchmark does first: the benchmark database created and
    migrated, Django set up, a note if its Redis holds keys; returns (and prints) the machine."""
    ensure_database()
    setup_django()
    warn_if_redis_in_use()
    info = machine()
    print_machine(info)
    return info


# --- statistics and output ---------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary_ms(seconds: Iterable[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(values[-1], 3),
    }


def fmt_latency(summary: Mapping[str, float]) -> str:
    if not summary.get("count"):
        return "no samples"
    return f"p50 {summary['p50']:.2f} ms, p95 {summary['p95']:.2f} ms, p99 {summary['p99']:.2f} ms"


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def arg_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measurement, profile the code path with cProfile and print the top functions",
    )
    return parser


def write_json(path: Path | None, data: Mapping[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"results written to {path}")


def print_profile(profiler: Any, *, limit: int = 25) -> str:
    """Print (and return) the profile's top functions by own time and by cumulative time."""
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    text = out.getvalue()
    print(text)
    return text


# --- harness: P forked processes started together -------------------------------------------


BARRIER_TIMEOUT = 300.0


@dataclass
class Tally:
    """What one process's job did: items done, latencies (per item or per batch), outcomes."""

    items: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


Job = Callable[[], Tally]


def per_item(op: Callable[[T], str], items: Sequence[T]) -> Job:
    """A job applying `op` to each item, timing each call; `op` returns an outcome label."""

    def job() -> Tally:
        tally = Tally(items=len(items))
        clock = time.perf_counter
        for item in items:
            t = clock()
            tally.outcomes[op(item)] += 1
            tally.latencies.append(clock() - t)
        return tally

    return job


def per_batch(op: Callable[[Sequence[T]], Mapping[str, int]], batches: Sequence[Sequence[T]]) -> Job:
    """A job applying `op` to each batch, timing each call; the items are the batches'
    elements (throughput per element, latency per batch); `op` returns outcome counts."""

    def job() -> Tally:
        tally = Tally(items=sum(len(batch) for batch in batches))
        clock = time.perf_counter
        for batch in batches:
            t = clock()
            tally.outcomes.update(op(batch))
            tally.latencies.append(clock() - t)
        return tally

    return job


def warm_up(op: Callable[[T], object], items: Sequence[T]) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            op(item)

    return run


@dataclass
class ScenarioResult:
    name: str
    processes: int
    items: int
    seconds: float
    outcomes: dict[str, int]
    latency_ms: dict[str, float]
    latency_of: str = "item"
    other_cpu_pct: float = 0.0

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "processes": self.processes,
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "outcomes": self.outcomes,
            "latency_of": self.latency_of,
            "latency_ms": self.latency_ms,
            "other_cpu_pct": round(self.other_cpu_pct, 1),
        }

    def line(self) -> str:
        return (
            f"{self.name:<30} P={self.processes} {self.items:>6} in {self.seconds:6.2f} s = "
            f"{self.per_second:8.1f}/s  per {self.latency_of}: {fmt_latency(self.latency_ms)}  "
            f"{self.outcomes}{other_cpu_note(self.other_cpu_pct)}"
        )


def _worker(job: Job, warmup: Callable[[], None], barrier: Barrier, results: Queue[Any]) -> None:
    from django.db import connection  # noqa: PLC0415 - Django is set up by the caller

    try:
        warmup()  # opens this process's connection and warms PostgreSQL's caches
        barrier.wait(BARRIER_TIMEOUT)
        start = time.perf_counter()
        tally = job()
        end = time.perf_counter()
        results.put(("ok", start, end, tally))
    except BaseException:  # noqa: BLE001 - report any failure to the parent, which re-raises it
        barrier.abort()
        results.put(("error", traceback.format_exc()))
    finally:
        connection.close()


def run_processes(
    name: str,
    jobs: Sequence[Job],
    warmups: Sequence[Callable[[], None]] | None = None,
    *,
    latency_of: str = "item",
) -> ScenarioResult:
    """Run each job in its own forked process; all start together at a barrier after their
    warm-up. Throughput: all items over the span from the first start to the last end
    (perf_counter is CLOCK_MONOTONIC, shared by the processes of one machine)."""
    from django.db import connections  # noqa: PLC0415

    connections.close_all()  # a forked child must never share its parent's connection
    warmups = warmups or [lambda: None] * len(jobs)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(jobs) + 1)
    results: Queue[Any] = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, warm, barrier, results), daemon=True)
        for job, warm in zip(jobs, warmups, strict=True)
    ]
    for proc in procs:
        proc.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed: see the queue
        barrier.wait(BARRIER_TIMEOUT)
    answers = [results.get(timeout=BARRIER_TIMEOUT + 3600) for _ in procs]
    for proc in procs:
        proc.join()
    errors = [a[1] for a in answers if a[0] == "error"]
    if errors:
        raise RuntimeError(f"{name}: a worker failed:\n" + "\n".join(errors))
    tallies: list[Tally] = [a[3] for a in answers]
    outcomes: Counter[str] = Counter()
    for tally in tallies:
        outcomes.update(tally.outcomes)
    return ScenarioResult(
        name=name,
        processes=len(jobs),
        items=sum(t.items for t in tallies),
        seconds=max(a[2] for a in answers) - min(a[1] for a in answers),
        outcomes=dict(outcomes),
        latency_ms=latency_summary_ms(x for t in tallies for x in t.latencies),
        latency_of=latency_of,
    )


# --- is anything else using the machine? -----------------------------------------------------

# Above this share of one core used by other processes during a measurement, it is repeated.
MAX_OTHER_CPU_PCT = 10.0
# On a machine shared with other work (a CI box, helpers running test suites) waiting for
# quiet may never end: both bounds can be lowered, and every result records the other CPU use.
QUIET_MAX_WAIT_SECONDS = float(os.environ.get("BENCH_QUIET_MAX_WAIT", "300"))
MEASURE_ATTEMPTS = int(os.environ.get("BENCH_ATTEMPTS", "4"))
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]), idle


def cpu_busy_percent(seconds: float = 1.0) -> float:
    """Share of all CPUs busy during the next `seconds` (100 = every core busy)."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    total = total1 - total0
    return 100.0 * (total - (idle1 - idle0)) / total if total else 0.0


def wait_until_quiet(*, threshold: float = 15.0, max_wait: float | None = None) -> float:
    """Wait (up to `max_wait` s) until the CPUs are mostly idle, so that a test run or build
    next door does not skew the figures. Returns the last busy %."""
    deadline = time.monotonic() + (QUIET_MAX_WAIT_SECONDS if max_wait is None else max_wait)
    busy = cpu_busy_percent(2.0)
    warned = False
    while busy > threshold and time.monotonic() < deadline:
        if not warned:
            print(f"note: CPUs {busy:.0f}% busy with other work; waiting for them to quiet down", flush=True)
            warned = True
        busy = cpu_busy_percent(2.0)
    if busy > threshold:
        print(f"WARNING: CPUs still {busy:.0f}% busy with other work", flush=True)
    return busy


def _process_stat(pid: int | str) -> tuple[int, int, str] | None:
    """(parent pid, CPU ticks used so far (user + system), command name) of a process, None
    when it is gone or not ours to read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    rest = stat[stat.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12]), comm


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds a process has used (user + system), None when it cannot be read."""
    stat = _process_stat(pid)
    return None if stat is None else stat[1] / _TICKS


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, CPU ticks used so far, command name) for every process."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _process_stat(entry.name)) is not None:
            out[int(entry.name)] = stat  # (a process that exited meanwhile is skipped)
    return out


def _postgres_database(pid: int) -> str | None:
    """The database a PostgreSQL backend serves (from its process title), None for the
    server's own background processes (checkpointer, WAL writer, ...), shared by everyone."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().split()
    except OSError:
        return None
    # The title reads: postgres: 15/main: USER DATABASE HOST(PORT) STATE
    if len(title) >= 5 and title[0] == "postgres:" and ("(" in title[4] or title[4] == "[local]"):
        return title[3]
    return None


class OtherCpu:
    """CPU used, during a `with` block, by processes that are not this benchmark: not this
    process or its descendants (gunicorn, forked workers), not a PostgreSQL backend of the
    benchmark database, not PostgreSQL's or Redis's shared background work.

    A thread scans /proc every `interval` s, so short-lived processes (a test run's
    subprocesses) are seen too; one that lives less than `interval` may be missed, so the
    figure is a lower bound."""

    def __init__(self, interval: float = 0.25) -> None:
        self.percent_of_core = 0.0
        self._interval = interval
        self._first: dict[int, int] = {}  # pid -> CPU ticks when first seen (0 if born since)
        self._last: dict[int, int] = {}
        self._theirs: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="other-cpu", daemon=True)
        self._bench_db = _database_name()
        self._start = 0.0

    def _is_theirs(self, pid: int, comm: str, ppid_of: Mapping[int, int]) -> bool:
        me, ancestor, hops = os.getpid(), pid, 0
        while ancestor > 1 and hops < 64:
            if ancestor == me:
                return False
            ancestor, hops = ppid_of.get(ancestor, 0), hops + 1
        if comm.startswith("redis-server"):
            return False
        return not (comm == "postgres" and _postgres_database(pid) in (None, self._bench_db))

    def _scan(self, *, initial: bool = False) -> None:
        processes = _processes()
        ppid_of = {pid: ppid for pid, (ppid, _, _) in processes.items()}
        for pid, (_, used, comm) in processes.items():
            if pid not in self._theirs:
                self._theirs[pid] = self._is_theirs(pid, comm, ppid_of)
                self._first[pid] = used if initial else 0
            self._last[pid] = used

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._scan()

    def __enter__(self) -> OtherCpu:
        self._scan(initial=True)
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._scan()
        seconds = time.monotonic() - self._start
        ticks = sum(self._last[pid] - self._first[pid] for pid, theirs in self._theirs.items() if theirs)
        self.percent_of_core = 100.0 * ticks / _TICKS / seconds if seconds else 0.0


def other_cpu_note(percent: float) -> str:
    if percent <= MAX_OTHER_CPU_PCT / 2:
        return ""
    return f"  [other processes used {percent:.0f}% of a core meanwhile]"


def measure_quietly(
    label: str,
    measure: Callable[[], T],
    prepare: Callable[[], object] | None = None,
    *,
    attempts: int | None = None,
) -> tuple[T, float]:
    """Run `measure` on a quiet machine: wait for the CPUs to be idle, measure, and measure
    again (after `prepare`, outside the measured window) if other processes used more than
    MAX_OTHER_CPU_PCT of a core meanwhile. Returns the least disturbed result and that %."""
    attempts = attempts or MEASURE_ATTEMPTS
    best: tuple[T, float] | None = None
    for attempt in range(1, attempts + 1):
        if prepare is not None:
            prepare()
        wait_until_quiet()
        with OtherCpu() as other:
            result = measure()
        if best is None or other.percent_of_core < best[1]:
            best = (result, other.percent_of_core)
        if other.percent_of_core <= MAX_OTHER_CPU_PCT:
            break
        again = "measuring again" if attempt < attempts else "keeping the least disturbed attempt"
        print(
            f"note: {label}: other processes used {other.percent_of_core:.0f}% of a core during the "
            f"measurement; {again}",
            flush=True,
        )
    assert best is not None
    return best


# --- where the time goes: SQL statements by kind, COMMIT, anything else wrapped -------------------


def statement_kind(sql: str) -> str:
    """A short label for a statement: verb and table (`SELECT execution_order FOR UPDATE`)."""
    import re  # noqa: PLC0415

    if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
        return sql.rsplit(" ", 1)[0]
    verb = sql.split(None, 1)[0].upper()
    if verb == "SELECT" and "SUM(" in sql:
        verb = "SELECT SUM(...)"
    elif sql.startswith(("SELECT 1 AS", "SELECT %s AS")):
        verb = "SELECT EXISTS"
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    table = match.group(1) if match else ""
    return f"{verb} {table}{' FOR UPDATE' if 'FOR UPDATE' in sql else ''}".strip()


@dataclass
class TimeSpent:
    seconds: dict[str, float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds
        self.calls[label] += 1

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, time.perf_counter() - t)

        return timed

    def per_unit_ms(self, total_seconds: float, units: int, rest_label: str) -> dict[str, float]:
        """Milliseconds per unit (fill, batch, request) by label, plus the unaccounted rest."""
        out = {
            f"{label} (x{self.calls[label] / units:.3g})": round(s / units * 1000, 3)
            for label, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }
        out[rest_label] = round((total_seconds - sum(self.seconds.values())) / units * 1000, 3)
        return out


@contextlib.contextmanager
def time_sql(kind: Callable[[str], str] = statement_kind) -> Iterator[TimeSpent]:
    """Time every statement this process sends through Django (driver included, fetching
    rows not) by `kind`, and every COMMIT. psycopg sends BEGIN with the transaction's first
    statement, so BEGIN's round trip counts there."""
    from django.db import connection  # noqa: PLC0415

    spent = TimeSpent()

    def timed_execute(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.add(kind(sql), time.perf_counter() - t)

    wrapper: Any = connection  # the instance attribute shadows DatabaseWrapper._commit
    wrapper._commit = spent.wrap("COMMIT", wrapper._commit)
    try:
        with connection.execute_wrapper(timed_execute):
            yield spent
    finally:
        del wrapper._commit  # back to the class's method


def print_breakdown(title: str, per_unit: Mapping[str, float]) -> None:
    print(f"--- {title} ---")
    for label, ms in per_unit.items():
        print(f"  {ms:8.3f} ms  {label}")
