"""The transactional outbox: events written with the change that caused them, relayed after.

Relay: claim a batch of unpublished rows with `FOR UPDATE SKIP LOCKED` (several relays may
run), keep per-aggregate id order (an aggregate whose earlier event is held by another relay
is left for later), hand each event to the registered in-process consumers inside a
savepoint, mark it published in the same transaction. A failing consumer puts the event (and
the rest of its aggregate in this batch) back with exponential backoff. Delivery is
at-least-once; consumers record processed event ids, so the effect is exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.execution import tasks
from apps.execution.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)
_RELAY_DEBOUNCE_KEY = "outbox:relay-queued"


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
    event = OutboxEvent.objects.create(
        aggregate_type=aggregate_type, aggregate_id=aggregate_id, event_type=event_type, payload=payload
    )
    transaction.on_commit(_nudge_relay)
    return event


def _nudge_relay() -> None:
    """Queue one relay task per second at most; the beat sweeper covers anything missed."""
    try:
        if cache.add(_RELAY_DEBOUNCE_KEY, 1, timeout=1):
            tasks.relay_outbox.delay()
    except Exception:  # noqa: BLE001 - the broker being down must not fail the committed write
        logger.warning("could not queue the outbox relay; the sweeper will deliver", exc_info=True)


def relay_outbox(*, batch_size: int = 500, max_batches: int = 100) -> int:
    """Deliver pending events; returns how many were published."""
    published = 0
    for _ in range(max_batches):
        count, claimed = _relay_batch(batch_size)
        published += count
        if claimed < batch_size:
            break
    return published


def _relay_batch(batch_size: int) -> tuple[int, int]:
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0, 0
        blocked = _aggregates_with_earlier_pending(rows)
        done: list[int] = []
        failed: set[tuple[str, str]] = set(blocked)
        for row in rows:
            aggregate = (row.aggregate_type, row.aggregate_id)
            if aggregate in failed:
                continue
            error = _deliver(row)
            if error is None:
                done.append(row.pk)
            else:
                failed.add(aggregate)
                _schedule_retry(row, error, now)
        if done:
            OutboxEvent.objects.filter(pk__in=done).update(published_at=now)
        return len(done), len(rows)


def _aggregates_with_earlier_pending(rows: list[OutboxEvent]) -> set[tuple[str, str]]:
    """Aggregates whose older unpublished event is not in this batch (held by another relay
    or backing off): delivering ours now would break their order."""
    first_ids: dict[tuple[str, str], int] = {}
    for row in rows:
        first_ids.setdefault((row.aggregate_type, row.aggregate_id), row.pk)
    condition = Q()
    for (agg_type, agg_id), first_id in first_ids.items():
        condition |= Q(aggregate_type=agg_type, aggregate_id=agg_id, id__lt=first_id)
    earlier = OutboxEvent.objects.filter(condition, published_at__isnull=True).values_list(
        "aggregate_type", "aggregate_id"
    )
    return set(earlier)


def _deliver(row: OutboxEvent) -> str | None:
    message = OutboxMessage(
        id=row.pk,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        event_type=row.event_type,
        payload=row.payload,
        created_at=row.created_at,
    )
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
