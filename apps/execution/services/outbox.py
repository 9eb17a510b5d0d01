"""The transactional outbox: events written with the change that caused them, relayed after.

Writers of one aggregate take a per-aggregate advisory lock before drawing their ids, held
to commit, so an aggregate's ids are committed in id order: a relay never sees an event while
an earlier one of its aggregate is still uncommitted.

Relay: claim a batch of unpublished rows with `FOR UPDATE SKIP LOCKED` (several relays may
run), keep per-aggregate id order (an aggregate's events from its first earlier event held by
another relay or backing off are left for later), hand each event to the registered
in-process consumers inside a savepoint, mark it published in the same transaction. The
batch is first delivered inside a single savepoint; only when a consumer fails is it rolled
back and redelivered with a savepoint per event, so that the failing event (and the rest of
its aggregate in this batch) is put back with exponential backoff while the other aggregates
go through. Delivery is at-least-once; consumers record processed event ids, so the effect
is exactly-once.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.execution import tasks
from apps.execution.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
# Set while a relay task is queued and not yet started; a relay clears it as it starts.
_RELAY_DEBOUNCE_KEY = "outbox:relay-queued"
# Only matters if a queued relay task is lost: nudges resume after this (the sweeper runs too).
_RELAY_QUEUED_TIMEOUT = 5
# First key of the two-key advisory locks that serialize an aggregate's writers.
_AGGREGATE_LOCK_SPACE = zlib.crc32(b"outbox-aggregate") - 2**31


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


Consumer = Callable[[OutboxMessage], None]
_consumers: dict[str, dict[str, Consumer]] = {}


def register_consumer(*, event_type: str, name: str, handler: Consumer) -> None:
    """Subscribe `handler` to `event_type`. It must be idempotent (record processed ids)."""
    _consumers.setdefault(event_type, {})[name] = handler


def unregister_consumer(*, event_type: str, name: str) -> None:
    _consumers.get(event_type, {}).pop(name, None)


def emit_event(
    *, aggregate_type: str, aggregate_id: str, event_type: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Write an event in the caller's transaction; the relay is nudged after commit."""
    (event,) = emit_events(
        events=[
            OutboxEvent(
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                event_type=event_type,
                payload=payload,
            )
        ]
    )
    return event


def emit_events(*, events: Sequence[OutboxEvent]) -> list[OutboxEvent]:
    """Write unsaved events in one INSERT, in the caller's transaction and in list order (the
    relay keeps id order per aggregate); one relay nudge after commit, however many.

    Call it last in the transaction and once: it locks the events' aggregates until commit."""
    if not events:
        return []
    if not connection.in_atomic_block:
        # In autocommit the lock would end with its own statement, and the event would not be
        # written with the change that caused it: the outbox's whole point.
        raise RuntimeError("emit_events must run inside the transaction that makes the change")
    _lock_aggregates(events)
    created = OutboxEvent.objects.bulk_create(events)
    transaction.on_commit(_nudge_relay)
    return created


def _lock_aggregates(events: Sequence[OutboxEvent]) -> None:
    """Wait for any other open transaction writing to these aggregates, and hold them to our
    commit. Without it two transactions of one account (say a stream fill and a
    reconciliation fill of two orders) could commit ids 100 and 101 in the order 101, 100;
    a relay reading in between would deliver 101 first, and 100 after it. Keys are taken in
    sorted order, so two writers of several aggregates cannot deadlock."""
    keys = sorted({_aggregate_lock_key(event) for event in events})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) AS k",
            [_AGGREGATE_LOCK_SPACE, keys],
        )


def _aggregate_lock_key(event: OutboxEvent) -> int:
    return zlib.crc32(f"{event.aggregate_type}:{event.aggregate_id}".encode()) - 2**31


def _nudge_relay() -> None:
    """Queue a relay task unless one is queued and not yet started: that one will read this
    commit, since a relay clears the mark before it reads (`relay_outbox`). A commit that lands
    after a relay read its rows therefore always queues the next one — a fixed-time debounce
    left such an event to the sweeper (up to 5 s late in positions). The beat sweeper covers
    anything else missed (broker down, a lost task)."""
    try:
        if cache.add(_RELAY_DEBOUNCE_KEY, 1, timeout=_RELAY_QUEUED_TIMEOUT):
            tasks.relay_outbox.delay()
    except Exception:  # noqa: BLE001 - the broker being down must not fail the committed write
        logger.warning("could not queue the outbox relay; the sweeper will deliver", exc_info=True)


def relay_outbox(*, batch_size: int = 500, max_batches: int = 100) -> int:
    """Deliver pending events; returns how many were published."""
    _relay_started()
    published = 0
    for _ in range(max_batches):
        count, claimed, retried = _relay_batch(batch_size)
        published += count
        # Stop when the claim ran dry, or when nothing of a full batch went and none failed:
        # its rows all wait for earlier events another relay holds (that relay goes on after
        # its commit) and the next claim would return the very same rows. A failed row backs
        # off, so the next claim leaves its aggregate out and gets further.
        if claimed < batch_size or (count == 0 and not retried):
            break
    return published


def _relay_started() -> None:
    """Clear the queued-relay mark before reading: any commit from now on nudges anew."""
    try:
        cache.delete(_RELAY_DEBOUNCE_KEY)
    except Exception:  # noqa: BLE001 - Redis down: nudges are failing anyway, the sweeper delivers
        logger.warning("could not clear the relay mark", exc_info=True)


def _relay_batch(batch_size: int) -> tuple[int, int, bool]:
    """(events delivered, rows claimed, whether a consumer failed)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .exclude(Exists(_earlier_backing_off(now)))
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0, 0, False
        # Per aggregate, only events with an id below its stop are delivered in this batch.
        stop_at = _stops(rows)
        held_back = bool(stop_at)  # behind events another relay holds (backing-off ones are not claimed)
        deliverable = _deliverable(rows, stop_at)
        failure = _deliver_batch(deliverable)
        if failure is None:
            done = [row.pk for row in deliverable]
        else:
            row, error = failure
            _schedule_retry(row, error, now)
            stop_at[_aggregate(row)] = row.pk
            done = _deliver_one_by_one(_deliverable(rows, stop_at), now)
        if done:
            OutboxEvent.objects.filter(pk__in=done).update(published_at=now)
            if held_back:
                # Once the other relay has committed, a relay must come back for the rows held
                # back, not the 5 s sweep. Only after progress: a relay that delivered nothing
                # and queued another would loop for as long as the other relay's batch lasts.
                transaction.on_commit(_nudge_relay)
        return len(done), len(rows), failure is not None


def _earlier_backing_off(now: datetime) -> QuerySet[OutboxEvent]:
    """An earlier event of the same aggregate waiting for its retry: the row cannot go before
    it, so it is not claimed. Claimed, such rows were held back batch after batch and, being
    the lowest ids, kept every other aggregate waiting until the retry (up to 5 minutes)."""
    return OutboxEvent.objects.filter(
        published_at__isnull=True,
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        id__lt=OuterRef("id"),
        next_attempt_at__gt=now,
    )


def _aggregate(row: OutboxEvent) -> tuple[str, str]:
    return (row.aggregate_type, row.aggregate_id)


def _deliverable(rows: list[OutboxEvent], stop_at: dict[tuple[str, str], int]) -> list[OutboxEvent]:
    return [row for row in rows if row.pk < stop_at.get(_aggregate(row), row.pk + 1)]


class _ConsumerFailed(Exception):
    """Raised inside the batch savepoint to roll back every consumer's work of the batch."""


def _deliver_batch(rows: list[OutboxEvent]) -> tuple[OutboxEvent, str] | None:
    """Fast path: every event of the batch to its consumers inside one savepoint (two round
    trips for the batch instead of two per event and consumer). On the first failure the
    savepoint is rolled back, so no consumer's work of this batch is kept, and the failing
    event is returned; the caller then redelivers the rest one by one."""
    if not any(_consumers.get(row.event_type) for row in rows):
        return None
    failure: tuple[OutboxEvent, str] | None = None
    try:
        with transaction.atomic():
            for row in rows:
                message = _message(row)
                for name, handler in list(_consumers.get(row.event_type, {}).items()):
                    try:
                        handler(message)
                    except Exception as exc:
                        logger.exception("outbox consumer %s failed on event %s", name, row.pk)
                        failure = (row, f"{name}: {type(exc).__name__}: {exc}")
                        raise _ConsumerFailed from exc
    except _ConsumerFailed:
        pass
    return failure


def _deliver_one_by_one(rows: list[OutboxEvent], now: datetime) -> list[int]:
    """Slow path after a failure: a savepoint per event and consumer, so that one failing
    consumer holds back only its own aggregate (from the failing event on)."""
    done: list[int] = []
    failed: set[tuple[str, str]] = set()
    for row in rows:
        aggregate = _aggregate(row)
        if aggregate in failed:
            continue
        error = _deliver(row)
        if error is None:
            done.append(row.pk)
        else:
            failed.add(aggregate)
            _schedule_retry(row, error, now)
    return done


def _stops(rows: list[OutboxEvent]) -> dict[tuple[str, str], int]:
    """Per aggregate, the first unpublished event below its last one in this batch that the
    batch does not hold (held by another relay, or backing off): only the batch's events
    below it may be delivered now. Concurrent relays claim interleaved rows, so the gap can
    lie before the batch's first event of the aggregate or between two of them. One
    statement for the whole batch, answered from the partial index of pending events per
    aggregate."""
    last_ids: dict[tuple[str, str], int] = {}
    for row in rows:
        last_ids[_aggregate(row)] = row.pk
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.aggregate_type, o.aggregate_id, min(o.id) "  # noqa: S608 - model table name
            "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS f(aggregate_type, aggregate_id, last_id) "
            f"JOIN {table} AS o ON o.published_at IS NULL "
            "AND o.aggregate_type = f.aggregate_type AND o.aggregate_id = f.aggregate_id "
            "AND o.id < f.last_id "
            "WHERE o.id <> ALL(%s::bigint[]) "
            "GROUP BY o.aggregate_type, o.aggregate_id",
            [
                [agg_type for agg_type, _ in last_ids],
                [agg_id for _, agg_id in last_ids],
                list(last_ids.values()),
                [row.pk for row in rows],
            ],
        )
        return {(agg_type, agg_id): stop for agg_type, agg_id, stop in cursor.fetchall()}


def _message(row: OutboxEvent) -> OutboxMessage:
    return OutboxMessage(
        id=row.pk,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        event_type=row.event_type,
        payload=row.payload,
        created_at=row.created_at,
    )


def _deliver(row: OutboxEvent) -> str | None:
    message = _message(row)
    for name, handler in list(_consumers.get(row.event_type, {}).items()):
        try:
            with transaction.atomic():
                handler(message)
        except Exception as exc:
            logger.exception("outbox consumer %s failed on event %s", name, row.pk)
            return f"{name}: {type(exc).__name__}: {exc}"
    return None


def _schedule_retry(row: OutboxEvent, error: str, now: datetime) -> None:
    attempts = row.attempts + 1
    backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 16)))
    OutboxEvent.objects.filter(pk=row.pk).update(
        attempts=attempts, next_attempt_at=now + backoff, last_error=error
    )


def prune_published_events(*, older_than: timedelta) -> int:
    """Delete published events older than `older_than` in chunks; returns how many."""
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {OutboxEvent._meta.db_table} WHERE id IN ("  # noqa: S608 - model table name
                f"SELECT id FROM {OutboxEvent._meta.db_table} "
                "WHERE published_at IS NOT NULL AND published_at < %s LIMIT 5000)",
                [cutoff],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < 5000:
            return total
