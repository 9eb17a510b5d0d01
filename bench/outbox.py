"""Outbox events relayed per second through `apps.execution.services.relay_outbox`.

Setup (before every scenario, so each starts from the same table): `--events` OutboxEvent
rows bulk-created round-robin over `--aggregates` aggregates (so every batch spans all of
them, the relay's worst case for its per-aggregate ordering check), then VACUUM ANALYZE.

Scenarios, each draining the whole table with `relay_outbox(batch_size=B, max_batches=1)`
called in a loop (what the Celery task does with max_batches=100, one batch per call here so
that each batch is timed):
  - baseline: the same claim-and-mark done in raw SQL (SELECT ... FOR UPDATE SKIP LOCKED
    LIMIT B, fetch the rows, UPDATE ... SET published_at WHERE id = ANY(...), one
    transaction per batch): the floor for this design on this machine;
  - relay_outbox, no consumer registered;
  - relay_outbox, one trivial consumer (records the event id in a Python set);
  - two relay processes at once, one consumer each (relays are designed to run side by side).
Consumers the apps register at start-up (the portfolio's) are unregistered while measuring:
the events are synthetic, and the figure wanted is the relay's own cost.

    .venv/bin/python bench/outbox.py [--events 50000] [--aggregates 200] [--batch-size 500]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import benchlib
from benchlib import ScenarioResult, Tally, run_processes

TARGET_EVENTS_PER_SECOND = 5000
EVENT_TYPE = "fill.recorded"


def _payload(i: int, account_id: int) -> dict[str, Any]:
    """About the size and shape of apply_fill's `fill.recorded` payload."""
    return {
        "fill_id": i,
        "order_id": 100_000 + i // 10,
        "account_id": account_id,
        "client_order_id": f"tb-{i:032x}",
        "strategy_id": None,
        "symbol": "BTCUSDT",
        "side": "BUY",
        "exchange_fill_id": 5_000_000 + i,
        "price": "30000.000000000000000000",
        "quantity": "0.001000000000000000",
        "quote_quantity": "30.000000000000000000",
        "commission": "0.000000750000000000",
        "commission_asset": "BNB",
        "is_maker": i % 2 == 0,
        "executed_at": "2026-01-01T00:00:00+00:00",
    }


def load_events(events: int, aggregates: int) -> None:
    from apps.execution.models import OutboxEvent

    benchlib.truncate(OutboxEvent._meta.db_table)
    chunk = 5000
    for first in range(0, events, chunk):
        OutboxEvent.objects.bulk_create(
            [
                OutboxEvent(
                    aggregate_type="account",
                    aggregate_id=str(i % aggregates + 1),
                    event_type=EVENT_TYPE,
                    payload=_payload(i, i % aggregates + 1),
                )
                for i in range(first, min(first + chunk, events))
            ]
        )
    benchlib.vacuum_analyze(OutboxEvent._meta.db_table)


def pending() -> int:
    from apps.execution.models import OutboxEvent

    return OutboxEvent.objects.filter(published_at__isnull=True).count()


# --- the jobs: drain the table, one batch per call, each call timed ----------------------------


def drain(relay_batch: Callable[[], int], recorded: set[int] | None = None) -> Tally:
    """Call `relay_batch` until nothing is left to publish. A call that publishes nothing
    while events are still pending (held by another relay, or blocked behind another relay's
    earlier events of the same aggregate) is counted as an `empty batch`."""
    from apps.execution.models import OutboxEvent

    tally = Tally()
    clock = time.perf_counter
    while True:
        t = clock()
        published = relay_batch()
        if published:  # latencies are of batches that published something
            tally.latencies.append(clock() - t)
            tally.items += published
            tally.outcomes["batches"] += 1
            continue
        if not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            break
        tally.outcomes["empty batches"] += 1
    if recorded is not None:
        tally.outcomes["consumer saw"] = len(recorded)
    return tally


def relay_job(batch_size: int, recorded: set[int] | None) -> Callable[[], Tally]:
    from apps.execution.services import relay_outbox

    return lambda: drain(lambda: relay_outbox(batch_size=batch_size, max_batches=1), recorded)


def raw_sql_job(batch_size: int) -> Callable[[], Tally]:
    from django.db import connection, transaction

    from apps.execution.models import OutboxEvent

    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    select = (
        "SELECT id, aggregate_type, aggregate_id, event_type, payload, created_at "  # noqa: S608 - model table
        f"FROM {table} WHERE published_at IS NULL "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
    )
    update = f"UPDATE {table} SET published_at = now() WHERE id = ANY(%s)"  # noqa: S608 - model table

    def batch() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select, [batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(update, [ids])
            return len(ids)

    return lambda: drain(batch)


# --- consumer -----------------------------------------------------------------------------------


def with_consumer(recorded: set[int]) -> Callable[[], None]:
    """Register the trivial consumer; returns the function that unregisters it."""
    from apps.execution.services import register_consumer
    from apps.execution.services.outbox import OutboxMessage, unregister_consumer

    def record(message: OutboxMessage) -> None:
        recorded.add(message.id)

    register_consumer(event_type=EVENT_TYPE, name="bench-recorder", handler=record)
    return lambda: unregister_consumer(event_type=EVENT_TYPE, name="bench-recorder")


def registered_consumers() -> dict[str, list[str]]:
    from apps.execution.services import outbox as outbox_module

    return {event: sorted(names) for event, names in outbox_module._consumers.items() if names}


@contextlib.contextmanager
def without_app_consumers() -> Iterator[None]:
    """Unregister the consumers the apps registered at start-up (the portfolio's, ...) for
    the duration: these scenarios measure the relay itself, on synthetic events those
    consumers could not process. They are registered again afterwards."""
    from apps.execution.services import outbox as outbox_module
    from apps.execution.services import register_consumer
    from apps.execution.services.outbox import unregister_consumer

    saved = [
        (event, name, handler)
        for event, handlers in outbox_module._consumers.items()
        for name, handler in handlers.items()
    ]
    for event, name, _ in saved:
        unregister_consumer(event_type=event, name=name)
    try:
        yield
    finally:
        for event, name, handler in saved:
            register_consumer(event_type=event, name=name, handler=handler)


# --- scenarios ----------------------------------------------------------------------------------


def scenario(
    name: str, jobs: list[Callable[[], Tally]], events: int, aggregates: int, *, consumer: bool = False
) -> ScenarioResult:
    result, other_cpu = benchlib.measure_quietly(
        name, lambda: run_processes(name, jobs, latency_of="batch"), lambda: load_events(events, aggregates)
    )
    result.other_cpu_pct = other_cpu
    left = pending()
    print(result.line())
    if left or result.items != events:
        raise AssertionError(f"{name}: published {result.items} of {events}, {left} still pending")
    if consumer and result.outcomes.get("consumer saw") != events:
        raise AssertionError(f"{name}: the consumer saw {result.outcomes.get('consumer saw')} events")
    return result


def run_all(events: int, aggregates: int, batch_size: int) -> list[ScenarioResult]:
    results = [scenario("baseline raw SQL claim+mark", [raw_sql_job(batch_size)], events, aggregates)]
    results.append(scenario("relay_outbox, no consumer", [relay_job(batch_size, None)], events, aggregates))

    recorded: set[int] = set()
    unregister = with_consumer(recorded)
    try:
        results.append(
            scenario(
                "relay_outbox, 1 consumer",
                [relay_job(batch_size, recorded)],
                events,
                aggregates,
                consumer=True,
            )
        )
        # Two relays: each forked process has its own copy of `recorded`, so the consumer
        # count is the sum of what each saw; it must still add up to every event once.
        results.append(
            scenario(
                "relay_outbox x2 processes, 1 consumer",
                [relay_job(batch_size, recorded), relay_job(batch_size, recorded)],
                events,
                aggregates,
                consumer=True,
            )
        )
    finally:
        unregister()
    return results


def _relay_statement_kind(sql: str) -> str:
    if "FOR UPDATE" in sql:
        return "SELECT ... FOR UPDATE SKIP LOCKED (claim)"
    if sql.startswith("SELECT") and (" OR " in sql or "unnest(" in sql):
        return "SELECT earlier pending events per aggregate"
    return benchlib.statement_kind(sql)


def time_breakdown(events: int, aggregates: int, batch_size: int, *, consumer: bool) -> dict[str, Any]:
    """Wall time of one relay batch split into its SQL statements (as Django's cursor sees
    them, driver included), COMMIT, and the rest (Python: model instances, consumer calls)."""
    from apps.execution.services import relay_outbox

    load_events(events, aggregates)
    recorded: set[int] = set()
    unregister = with_consumer(recorded) if consumer else (lambda: None)
    try:
        with benchlib.time_sql(_relay_statement_kind) as spent:
            batches = 0
            start = time.perf_counter()
            while relay_outbox(batch_size=batch_size, max_batches=1):
                batches += 1
            total = time.perf_counter() - start
    finally:
        unregister()
    per_batch = spent.per_unit_ms(total, batches, "Python (the rest)")
    ms = round(total / batches * 1000, 2)
    label = "1 consumer" if consumer else "no consumer"
    benchlib.print_breakdown(f"where one batch of {batch_size} spends its {ms} ms ({label})", per_batch)
    return {"consumer": consumer, "ms_per_batch": ms, "breakdown_ms": per_batch}


def profile(events: int, aggregates: int, batch_size: int) -> dict[str, Any]:
    import cProfile

    from apps.execution.services import relay_outbox

    breakdowns = [
        time_breakdown(events, aggregates, batch_size, consumer=False),
        time_breakdown(events, aggregates, batch_size, consumer=True),
    ]
    load_events(events, aggregates)
    recorded: set[int] = set()
    unregister = with_consumer(recorded)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        while relay_outbox(batch_size=batch_size, max_batches=1):
            pass
        profiler.disable()
    finally:
        unregister()
    print(f"--- cProfile: relaying {events} events, 1 consumer ---")
    return {"breakdowns": breakdowns, "cprofile": benchlib.print_profile(profiler)}


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--aggregates", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500, help="relay_outbox's default is 500")
    args = parser.parse_args()

    info = benchlib.start()
    consumers = registered_consumers()
    print(
        f"outbox: {args.events} events over {args.aggregates} aggregates, batch {args.batch_size}; "
        f"target >= {TARGET_EVENTS_PER_SECOND}/s; consumers registered by the apps: {consumers or 'none'}"
        f"{' (unregistered while measuring)' if consumers else ''}"
    )
    try:
        with without_app_consumers():
            results = run_all(args.events, args.aggregates, args.batch_size)
            profile_data = profile(10_000, args.aggregates, args.batch_size) if args.profile else None
    finally:
        benchlib.flush_redis()
    benchlib.write_json(
        args.json,
        {
            "benchmark": "outbox",
            "target_per_second": TARGET_EVENTS_PER_SECOND,
            "machine": info,
            "events": args.events,
            "aggregates": args.aggregates,
            "batch_size": args.batch_size,
            "consumers_registered_by_apps": consumers,
            "scenarios": [r.as_dict() for r in results],
            "profile": profile_data,
        },
    )


if __name__ == "__main__":
    main()
