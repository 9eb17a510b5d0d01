"""Fills applied per second through `apps.execution.services.apply_fill` on PostgreSQL.

Setup: one account, BTCUSDT, `--orders` orders bulk-created as SUBMITTED, `--fills-per-order`
fills for each (the last one fills the order). The fills are delivered round-robin over the
orders, as a trade stream interleaves them, by P worker processes (`--processes 1,2`); each
process owns a disjoint set of orders, as fills for one order serialize on its row lock
anyway. Then the very same reports are delivered again: the duplicate-delivery path.

Baseline, same run, same harness: one transaction per iteration with a single-row INSERT and
an UPDATE of that row (`bench_baseline`, a table of the benchmark database only) — the
floor for "one durable commit per fill" on this machine.

Batched scenarios (`--bursts 50,200`): the same reports, in the same order, cut into bursts
of B and delivered through `apply_fills` (one transaction per burst), new then duplicate.
Their baseline: the same bare INSERT + UPDATE per item, with one COMMIT per burst.

    .venv/bin/python bench/fills.py [--orders 500] [--fills-per-order 10] [--processes 1,2]
                                    [--bursts 50,200]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import benchlib
from benchlib import ScenarioResult, per_batch, per_item, run_processes, warm_up

if TYPE_CHECKING:
    from apps.execution.models import ExchangeAccount
    from apps.execution.services import FillReport

T = TypeVar("T")

TARGET_FILLS_PER_SECOND = 2000
SYMBOL = benchlib.SYMBOL
FILL_QTY = Decimal("0.001")
WARMUP_FILLS = 20

BASELINE_DDL = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id bigserial PRIMARY KEY,
    item bigint NOT NULL,
    n integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


# --- the operations measured ------------------------------------------------------------------


def apply_op(report: FillReport) -> str:
    from apps.execution.services import apply_fill

    return apply_fill(report=report).outcome.value


def baseline_op(item: int) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (item) VALUES (%s) RETURNING id", [item])
        (row_id,) = cursor.fetchone()
        cursor.execute("UPDATE bench_baseline SET n = n + 1, updated_at = now() WHERE id = %s", [row_id])
    return "committed"


def apply_batch_op(reports: Sequence[FillReport]) -> dict[str, int]:
    from collections import Counter

    from apps.execution.services import apply_fills

    return Counter(result.outcome.value for result in apply_fills(reports=reports))


def baseline_batch_op(items: Sequence[int]) -> dict[str, int]:
    """The batched baseline: the bare INSERT + UPDATE per item, one COMMIT per burst."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for item in items:
            cursor.execute("INSERT INTO bench_baseline (item) VALUES (%s) RETURNING id", [item])
            (row_id,) = cursor.fetchone()
            cursor.execute("UPDATE bench_baseline SET n = n + 1, updated_at = now() WHERE id = %s", [row_id])
    return {"committed": len(items)}


def bursts(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# --- data -------------------------------------------------------------------------------------------


def reset_execution_tables() -> None:
    from apps.execution.models import Fill, Order, OrderEvent, OutboxEvent

    benchlib.truncate(
        Fill._meta.db_table, OrderEvent._meta.db_table, Order._meta.db_table, OutboxEvent._meta.db_table
    )


def create_orders(account: ExchangeAccount, count: int, fills_per_order: int, prefix: str) -> list[int]:
    from django.utils import timezone

    from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce
    from apps.execution.models import Order

    now = timezone.now()
    orders = Order.objects.bulk_create(
        [
            Order(
                account=account,
                symbol=SYMBOL,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                time_in_force=TimeInForce.GTC,
                quantity=FILL_QTY * fills_per_order,
                price=Decimal("30000.00"),
                client_order_id=f"{prefix}-{i}",
                exchange_order_id=f"{prefix}-{i}",
                status=OrderStatus.SUBMITTED,
                submitted_at=now,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    return [o.pk for o in orders]


def fill_reports(order_ids: Sequence[int], fills_per_order: int, first_fill_id: int) -> list[FillReport]:
    """Round-robin over the orders: fill k of every order before fill k+1 of any."""
    from django.utils import timezone

    from apps.execution.services import FillReport

    now = timezone.now()
    reports = []
    fill_id = first_fill_id
    for k in range(fills_per_order):
        price = Decimal("30000.00") - k
        for order_id in order_ids:
            reports.append(
                FillReport(
                    order_id=order_id,
                    exchange_fill_id=fill_id,
                    price=price,
                    quantity=FILL_QTY,
                    quote_quantity=price * FILL_QTY,
                    executed_at=now,
                    commission=Decimal("0.00000075"),
                    commission_asset="BNB",
                    is_maker=k % 2 == 0,
                )
            )
            fill_id += 1
    return reports


def verify_applied(order_ids: Sequence[int], fills_per_order: int) -> None:
    """Every order FILLED with exactly its quantity; one fill, one event per report."""
    from django.db.models import F

    from apps.core.domain import OrderStatus
    from apps.execution.models import Fill, Order, OrderEvent

    orders = Order.objects.filter(pk__in=order_ids)
    expected = len(order_ids) * fills_per_order
    fills = Fill.objects.filter(order_id__in=order_ids).count()
    fill_events = OrderEvent.objects.filter(order_id__in=order_ids, kind=OrderEvent.Kind.FILL).count()
    not_filled = orders.exclude(status=OrderStatus.FILLED).count()
    wrong_qty = orders.exclude(filled_quantity=F("quantity")).count()
    problems = []
    if fills != expected:
        problems.append(f"{fills} fills stored, expected {expected}")
    if fill_events != expected:
        problems.append(f"{fill_events} fill events, expected {expected}")
    if not_filled or wrong_qty:
        problems.append(f"{not_filled} orders not FILLED, {wrong_qty} with filled_quantity != quantity")
    if problems:
        raise AssertionError("; ".join(problems))


def partition(
    items: Sequence[T], order_of: Callable[[T], int], order_ids: Sequence[int], parts: int
) -> list[list[T]]:
    """Split items so that each order's items all go to the same part (order i -> part i % P)."""
    part_of = {order_id: i % parts for i, order_id in enumerate(order_ids)}
    out: list[list[T]] = [[] for _ in range(parts)]
    for item in items:
        out[part_of[order_of(item)]].append(item)
    return out


# --- scenarios ----------------------------------------------------------------------------------------


@dataclass
class FillSet:
    """Orders created for one scenario and the reports filling them, split per process."""

    order_ids: list[int]
    reports: list[FillReport]
    parts: list[list[FillReport]]
    warm_parts: list[list[FillReport]]


def prepare_fills(processes: int, account: ExchangeAccount, orders: int, fills_per_order: int) -> FillSet:
    reset_execution_tables()
    order_ids = create_orders(account, orders, fills_per_order, prefix=f"bench-p{processes}")
    warm_ids = create_orders(account, processes, WARMUP_FILLS, prefix=f"warm-p{processes}")
    reports = fill_reports(order_ids, fills_per_order, first_fill_id=1)
    warm_reports = fill_reports(warm_ids, WARMUP_FILLS, first_fill_id=10**12)
    return FillSet(
        order_ids=order_ids,
        reports=reports,
        parts=partition(reports, lambda r: r.order_id, order_ids, processes),
        warm_parts=partition(warm_reports, lambda r: r.order_id, warm_ids, processes),
    )


def scenario(
    name: str, measure: Callable[[], ScenarioResult], prepare: Callable[[], object] | None = None
) -> ScenarioResult:
    result, other_cpu = benchlib.measure_quietly(name, measure, prepare)
    result.other_cpu_pct = other_cpu
    print(result.line(), flush=True)
    return result


def run_delivery(
    processes: int, account: ExchangeAccount, orders: int, fills_per_order: int, burst: int | None
) -> list[ScenarioResult]:
    """The baseline, then the fills delivered new, then the very same reports again
    (duplicates): one `apply_fill` per report when `burst` is None, else `apply_fills` on
    bursts of `burst` (the baseline then commits once per burst too)."""
    from apps.execution.models import OutboxEvent

    one = burst is None
    per = per_item if one else per_batch
    base_op, op = (baseline_op, apply_op) if one else (baseline_batch_op, apply_batch_op)
    base_name = "baseline insert+update" if one else f"baseline, COMMIT per {burst}"
    name = "apply_fill" if one else f"apply_fills x{burst}"

    def chunks(part: list[T]) -> list[Any]:
        return part if burst is None else bursts(part, burst)

    items = orders * fills_per_order
    base_parts = [chunks(list(range(items))[i::processes]) for i in range(processes)]
    base_warm = [chunks(list(range(-WARMUP_FILLS, 0))) for _ in range(processes)]
    results = [
        scenario(
            base_name,
            lambda: run_processes(
                base_name,
                [per(base_op, part) for part in base_parts],
                [warm_up(base_op, part) for part in base_warm],
                latency_of="iteration" if one else "burst",
            ),
            reset_baseline,
        )
    ]
    fill_set: list[FillSet] = []  # the latest prepared set (a new one for each attempt)

    def prepare() -> None:
        fill_set[:] = [prepare_fills(processes, account, orders, fills_per_order)]

    def deliver(label: str) -> ScenarioResult:
        (fs,) = fill_set
        return run_processes(
            label,
            [per(op, chunks(part)) for part in fs.parts],
            [warm_up(op, chunks(part)) for part in fs.warm_parts],  # duplicates the second time
            latency_of="fill" if one else "burst",
        )

    new, dup = f"{name} (new)", f"{name} (duplicate)"
    results.append(scenario(new, lambda: deliver(new), prepare))
    if results[-1].outcomes != {"applied": items}:
        raise AssertionError(f"delivery did not apply every fill once: {results[-1].outcomes}")
    verify_applied(fill_set[0].order_ids, fills_per_order)
    events_before = OutboxEvent.objects.count()
    results.append(scenario(dup, lambda: deliver(dup)))
    if results[-1].outcomes != {"duplicate": items}:
        raise AssertionError(f"duplicate delivery was not a no-op: {results[-1].outcomes}")
    if OutboxEvent.objects.count() != events_before:
        raise AssertionError("duplicate delivery emitted outbox events")
    verify_applied(fill_set[0].order_ids, fills_per_order)
    return results


def reset_baseline() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_DDL)
        cursor.execute("TRUNCATE bench_baseline RESTART IDENTITY")


def queries_per_batch(account: ExchangeAccount, sizes: Sequence[int]) -> dict[str, int]:
    """SQL statements per apply_fills call of each burst size over 50 orders (new, duplicate)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.execution.services import apply_fills

    counts = {}
    for size in sizes:
        order_ids = create_orders(account, 50, 10, prefix=f"batch-queries-{size}")
        reports = fill_reports(order_ids, 10, first_fill_id=3 * 10**12 + size * 10**6)[:size]
        for label in ("new", "duplicate"):
            with CaptureQueriesContext(connection) as ctx:
                apply_fills(reports=reports)
            counts[f"x{size} {label}"] = len(ctx.captured_queries)
    return counts


def queries_per_fill(account: ExchangeAccount) -> dict[str, int]:
    """SQL statements per apply_fill, as Django logs them (BEGIN and COMMIT included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.execution.services import apply_fill

    (order_id,) = create_orders(account, 1, 2, prefix="queries")
    first, last = fill_reports([order_id], 2, first_fill_id=2 * 10**12)
    counts = {}
    for label, report in (("partial", first), ("final", last), ("duplicate", first)):
        with CaptureQueriesContext(connection) as ctx:
            apply_fill(report=report)
        counts[label] = len(ctx.captured_queries)
    return counts


def cpu_per_fill(account: ExchangeAccount, orders: int, fills_per_order: int) -> dict[str, Any]:
    """Machine CPU one durable commit costs, split into this process (Python, the driver) and
    its PostgreSQL backend: a lone `apply_fill` (new fills) against the bare baseline
    (`baseline_op`). CPU, not wall time, bounds what any number of processes can reach on
    this machine: at most nproc / (CPU per fill) fills per second, whatever the concurrency."""
    from django.db import connection

    from apps.execution.services import apply_fill

    reset_execution_tables()
    reset_baseline()
    order_ids = create_orders(account, orders, fills_per_order, prefix="cpu")
    reports = fill_reports(order_ids, fills_per_order, first_fill_id=1)
    warm, measured = reports[:WARMUP_FILLS], reports[WARMUP_FILLS:]
    for report in warm:
        apply_fill(report=report)
    for item in range(-WARMUP_FILLS, 0):
        baseline_op(item)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    return {
        "nproc": os.cpu_count(),
        "apply_fill": _cpu_cost(
            "fill, apply_fill", backend, [partial(apply_fill, report=r) for r in measured]
        ),
        "baseline": _cpu_cost(
            "item, baseline", backend, [partial(baseline_op, i) for i in range(len(reports))]
        ),
    }


def _cpu_cost(label: str, backend: int, calls: Sequence[Callable[[], object]]) -> dict[str, Any]:
    """CPU per call of `calls`, in this process and in the PostgreSQL backend `backend`."""
    cores = os.cpu_count() or 1
    server_before, client_before, wall_before = (
        benchlib.process_cpu_seconds(backend),
        time.process_time(),
        time.perf_counter(),
    )
    for call in calls:
        call()
    server_after, client_after, wall_after = (
        benchlib.process_cpu_seconds(backend),
        time.process_time(),
        time.perf_counter(),
    )
    client_ms = (client_after - client_before) / len(calls) * 1000
    server_ms = None
    if server_before is not None and server_after is not None:
        server_ms = (server_after - server_before) / len(calls) * 1000
    ceiling = None if server_ms is None else round(cores / (client_ms + server_ms) * 1000)
    backend_text = "not readable (server elsewhere)" if server_ms is None else f"{server_ms:.2f} ms"
    print(
        f"CPU per {label} (one process, {len(calls)}): client {client_ms:.2f} ms, "
        f"PostgreSQL backend {backend_text}"
        + (f" -> at most {ceiling:,}/s on {cores} cores at any concurrency" if ceiling else ""),
        flush=True,
    )
    return {
        "wall_ms": round((wall_after - wall_before) / len(calls) * 1000, 3),
        "client_cpu_ms": round(client_ms, 3),
        "backend_cpu_ms": None if server_ms is None else round(server_ms, 3),
        "ceiling_per_second": ceiling,
    }


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def round_trip_ms(samples: int = 2000) -> dict[str, float]:
    """`SELECT 1` round trips: back to back, and after 0.3 ms of client CPU work each (as
    between the ORM's statements, when PostgreSQL's backend has gone idle and must be woken)."""
    import psycopg

    clock = time.perf_counter
    results = {}
    with psycopg.connect(benchlib.BENCH_DATABASE_URL, autocommit=True) as conn:
        for label, gap in (("back_to_back", 0.0), ("after_0.3ms_client_work", 0.0003)):
            samples_s: list[float] = []
            for _ in range(samples):
                _spin(gap)
                t = clock()
                conn.execute("SELECT 1").fetchone()
                samples_s.append(clock() - t)
            results[f"select1_{label}_p50"] = benchlib.latency_summary_ms(samples_s)["p50"]
    return results


def _timed_breakdown(units: Sequence[T], apply: Callable[[T], object], title: str) -> tuple[float, dict]:
    """Mean wall time of `apply` per unit, split into its SQL statements (as Django's cursor sees
    them, driver included), COMMIT, the after-commit relay nudge (Redis), and the rest (Python:
    ORM query building, model instances, serialization). One process; prints the table."""
    from apps.execution.services import outbox as outbox_module

    real_nudge = outbox_module._nudge_relay
    with benchlib.time_sql() as spent:
        outbox_module._nudge_relay = spent.wrap("after-commit relay nudge (Redis)", real_nudge)
        try:
            start = time.perf_counter()
            for unit in units:
                apply(unit)
            total = time.perf_counter() - start
        finally:
            outbox_module._nudge_relay = real_nudge
    per_unit = spent.per_unit_ms(total, len(units), "Python (the rest)")
    ms = round(total / len(units) * 1000, 3)
    benchlib.print_breakdown(title.format(ms=ms, n=len(units)), per_unit)
    return ms, per_unit


def time_breakdown(account: ExchangeAccount, orders: int, fills_per_order: int) -> dict[str, Any]:
    """Where one apply_fill's time goes (`_timed_breakdown`)."""
    from apps.execution.services import apply_fill

    reset_execution_tables()
    order_ids = create_orders(account, orders, fills_per_order, prefix="breakdown")
    reports = fill_reports(order_ids, fills_per_order, first_fill_id=1)
    ms, per_fill = _timed_breakdown(
        reports,
        lambda report: apply_fill(report=report),
        "where one apply_fill spends its {ms} ms (mean of {n}, one process)",
    )
    return {"fills": len(reports), "ms_per_fill": ms, "breakdown_ms": per_fill}


def batch_breakdown(
    account: ExchangeAccount, orders: int, fills_per_order: int, burst: int
) -> dict[str, Any]:
    """Where one apply_fills burst's time goes (`_timed_breakdown`)."""
    from apps.execution.services import apply_fills

    reset_execution_tables()
    order_ids = create_orders(account, orders, fills_per_order, prefix=f"breakdown-x{burst}")
    batches = bursts(fill_reports(order_ids, fills_per_order, first_fill_id=1), burst)
    ms, per_burst = _timed_breakdown(
        batches,
        lambda batch: apply_fills(reports=batch),
        f"where one apply_fills of {burst} new fills spends its {{ms}} ms (mean of {{n}}, one process)",
    )
    return {"burst": burst, "bursts": len(batches), "ms_per_burst": ms, "breakdown_ms": per_burst}


def profile(account: ExchangeAccount, orders: int, fills_per_order: int) -> dict[str, Any]:
    import cProfile

    from apps.execution.services import apply_fill

    rtt = round_trip_ms()
    print(f"round trip to PostgreSQL: {rtt}")
    breakdown = time_breakdown(account, orders, fills_per_order)
    reset_execution_tables()
    order_ids = create_orders(account, orders, fills_per_order, prefix="profile")
    reports = fill_reports(order_ids, fills_per_order, first_fill_id=1)
    profiler = cProfile.Profile()
    profiler.enable()
    for report in reports:
        apply_fill(report=report)
    profiler.disable()
    print(f"--- cProfile: {len(reports)} apply_fill calls, one process ---")
    single = benchlib.print_profile(profiler)
    batched = {burst: batch_breakdown(account, orders, fills_per_order, burst) for burst in (50, 200)}
    from apps.execution.services import apply_fills

    reset_execution_tables()
    order_ids = create_orders(account, orders, fills_per_order, prefix="profile-x200")
    batches = bursts(fill_reports(order_ids, fills_per_order, first_fill_id=1), 200)
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in batches:
        apply_fills(reports=batch)
    profiler.disable()
    print(f"--- cProfile: {len(batches)} apply_fills calls of 200, one process ---")
    return {
        "round_trip_ms": rtt,
        "breakdown": breakdown,
        "cprofile": single,
        "batch_breakdown": batched,
        "cprofile_batched": benchlib.print_profile(profiler),
    }


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--fills-per-order", type=int, default=10)
    parser.add_argument("--processes", default="1,2", help="comma-separated worker process counts")
    parser.add_argument("--bursts", default="50,200", help="comma-separated apply_fills burst sizes")
    parser.add_argument("--no-single", action="store_true", help="skip the one-fill-per-call scenarios")
    args = parser.parse_args()
    process_counts = [int(p) for p in args.processes.split(",")]
    burst_sizes = [int(b) for b in args.bursts.split(",") if b]

    info = benchlib.start()
    print(
        f"fills: {args.orders} orders x {args.fills_per_order} fills = "
        f"{args.orders * args.fills_per_order} per scenario; target >= {TARGET_FILLS_PER_SECOND}/s"
    )
    try:
        account = benchlib.trading_account("bench-fills")
        results: list[ScenarioResult] = []
        for processes in process_counts:
            for burst in ([] if args.no_single else [None]) + burst_sizes:
                results += run_delivery(processes, account, args.orders, args.fills_per_order, burst)
        queries = queries_per_fill(account)
        print(f"SQL statements per apply_fill, as Django logs them: {queries}")
        batch_queries = queries_per_batch(account, burst_sizes)
        print(f"SQL statements per apply_fills call, as Django logs them: {batch_queries}")
        cpu = cpu_per_fill(account, args.orders, args.fills_per_order)
        profile_data = profile(account, 200, args.fills_per_order) if args.profile else None
    finally:
        benchlib.flush_redis()
    benchlib.write_json(
        args.json,
        {
            "benchmark": "fills",
            "target_per_second": TARGET_FILLS_PER_SECOND,
            "machine": info,
            "orders": args.orders,
            "fills_per_order": args.fills_per_order,
            "scenarios": [r.as_dict() for r in results],
            "queries_per_fill": queries,
            "queries_per_batch": batch_queries,
            "cpu_per_fill": cpu,
            "bursts": burst_sizes,
            "profile": profile_data,
        },
    )


if __name__ == "__main__":
    main()
