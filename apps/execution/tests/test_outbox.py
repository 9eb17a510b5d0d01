from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from apps.core.testing import url_of_test_database
from apps.execution import services
from apps.execution.models import OutboxEvent
from apps.execution.services import outbox as outbox_module
from apps.execution.services.outbox import OutboxMessage, _consumers, unregister_consumer


@pytest.fixture
def delivered() -> Iterator[list[OutboxMessage]]:
    seen: list[OutboxMessage] = []
    lock = threading.Lock()

    def consumer(message: OutboxMessage) -> None:
        with lock:
            seen.append(message)

    saved = {k: dict(v) for k, v in _consumers.items()}
    services.register_consumer(event_type="test.event", name="recorder", handler=consumer)
    yield seen
    _consumers.clear()
    _consumers.update(saved)


def emit(aggregate_id: str, payload: dict[str, int] | None = None) -> OutboxEvent:
    return services.emit_event(
        aggregate_type="account", aggregate_id=aggregate_id, event_type="test.event", payload=payload or {}
    )


def emit_many(count: int, aggregates: int) -> list[int]:
    with transaction.atomic():
        return [emit(str(i % aggregates), {"n": i}).pk for i in range(count)]


@pytest.mark.django_db
def test_relay_delivers_each_event_once_in_order_and_marks_it(delivered) -> None:
    ids = emit_many(30, aggregates=3)

    assert services.relay_outbox(batch_size=7) == 30
    assert services.relay_outbox() == 0

    assert sorted(m.id for m in delivered) == ids
    for agg in ("0", "1", "2"):
        per_aggregate = [m.id for m in delivered if m.aggregate_id == agg]
        assert per_aggregate == sorted(per_aggregate)
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


@pytest.mark.django_db
def test_failing_consumer_holds_back_its_aggregate_with_backoff(delivered) -> None:
    calls = {"n": 0}

    def flaky(message: OutboxMessage) -> None:
        if message.aggregate_id == "0":
            calls["n"] += 1
            raise RuntimeError("portfolio down")

    services.register_consumer(event_type="test.event", name="flaky", handler=flaky)
    ids = emit_many(6, aggregates=2)  # aggregate 0: ids[0], ids[2], ids[4]

    assert services.relay_outbox() == 3

    head = OutboxEvent.objects.get(pk=ids[0])
    assert head.published_at is None
    assert head.attempts == 1
    assert head.next_attempt_at is not None
    assert head.next_attempt_at > timezone.now()
    assert "portfolio down" in head.last_error
    assert calls["n"] == 1  # later events of aggregate 0 were not tried out of order
    assert set(OutboxEvent.objects.filter(published_at__isnull=True).values_list("pk", flat=True)) == {
        ids[0],
        ids[2],
        ids[4],
    }

    unregister_consumer(event_type="test.event", name="flaky")
    OutboxEvent.objects.filter(pk=ids[0]).update(next_attempt_at=timezone.now())
    assert services.relay_outbox() == 3


@pytest.mark.django_db
def test_an_aggregate_backing_off_does_not_hold_up_the_others(delivered) -> None:
    """Its head event backs off; its later events are the lowest claimable ids, and are held
    back. Claiming them batch after batch kept every other aggregate's events waiting until
    the backoff ended (up to 5 minutes)."""
    with transaction.atomic():
        backing_off = [emit("slow") for _ in range(12)]
        others = [emit("other") for _ in range(3)]
    OutboxEvent.objects.filter(pk=backing_off[0].pk).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5), last_error="down"
    )

    assert services.relay_outbox(batch_size=5) == 3

    assert [m.id for m in delivered] == [e.pk for e in others]
    pending = set(OutboxEvent.objects.filter(published_at__isnull=True).values_list("pk", flat=True))
    assert pending == {e.pk for e in backing_off}


@pytest.mark.django_db
def test_a_full_batch_of_failures_does_not_end_the_relay_before_the_due_events(delivered) -> None:
    def failing(message: OutboxMessage) -> None:
        if message.aggregate_id.startswith("bad"):
            raise RuntimeError("down")

    services.register_consumer(event_type="test.event", name="failing", handler=failing)
    with transaction.atomic():
        for i in range(12):
            emit(f"bad-{i}")
        good = [emit("good") for _ in range(3)]

    assert services.relay_outbox(batch_size=5) == 3  # one run, not one batch of failures per run

    assert [m.id for m in delivered if m.aggregate_id == "good"] == [e.pk for e in good]
    assert OutboxEvent.objects.filter(published_at__isnull=True, attempts=1).count() == 12


@pytest.mark.django_db
def test_a_failing_consumer_keeps_no_work_of_its_failed_event_and_others_are_done_once(delivered) -> None:
    """The batch is delivered in one savepoint; after a failure it is rolled back and
    redelivered event by event. A consumer writing a unique row per event proves that no work
    is kept twice (a second row would violate the unique name) and none of the failed event."""

    def writer(message: OutboxMessage) -> None:
        Group.objects.create(name=f"outbox-{message.id}")
        if message.aggregate_id == "0" and message.payload["n"] == 2:
            raise RuntimeError("consumer bug")

    services.register_consumer(event_type="test.event", name="writer", handler=writer)
    ids = emit_many(6, aggregates=2)  # aggregate 0: ids[0], ids[2] (fails), ids[4]

    assert services.relay_outbox() == 4

    written = set(Group.objects.filter(name__startswith="outbox-").values_list("name", flat=True))
    assert written == {f"outbox-{ids[i]}" for i in (0, 1, 3, 5)}
    assert set(OutboxEvent.objects.filter(published_at__isnull=True).values_list("pk", flat=True)) == {
        ids[2],
        ids[4],
    }
    failed = OutboxEvent.objects.get(pk=ids[2])
    assert (failed.attempts, "consumer bug" in failed.last_error) == (1, True)


@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_deliver_every_event_exactly_once_in_aggregate_order(delivered) -> None:
    ids = emit_many(1500, aggregates=40)
    barrier = threading.Barrier(3)

    def relay() -> None:
        try:
            barrier.wait()
            while services.relay_outbox(batch_size=50, max_batches=1):
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    services.relay_outbox()

    assert sorted(m.id for m in delivered) == ids
    for agg in {m.aggregate_id for m in delivered}:
        per_aggregate = [m.id for m in delivered if m.aggregate_id == agg]
        assert per_aggregate == sorted(per_aggregate), agg


@pytest.mark.django_db(transaction=True)
def test_emitting_outside_a_transaction_is_refused_and_writes_nothing() -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        emit("1")
    assert not OutboxEvent.objects.exists()


@contextmanager
def open_transaction_elsewhere(work: Callable[[], object]) -> Iterator[None]:
    """Run `work` in a transaction on another connection and keep it open (its locks held,
    its writes uncommitted) until the block ends; then it commits."""
    ready, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                ready.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
            ready.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_a_relay_stops_an_aggregate_at_an_event_another_relay_holds_between_two_of_its_own(
    delivered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent relays claim interleaved rows: this batch gets the aggregate's first and
    third events while the second is locked elsewhere. Only the first may go now."""
    first, held, third = emit_many(3, aggregates=1)

    def lock_the_second() -> None:
        list(OutboxEvent.objects.select_for_update().filter(pk=held))

    nudges: list[int] = []
    monkeypatch.setattr(outbox_module, "_nudge_relay", lambda: nudges.append(1))
    with open_transaction_elsewhere(lock_the_second):
        assert services.relay_outbox() == 1
        assert [m.id for m in delivered] == [first]
        assert OutboxEvent.objects.get(pk=third).published_at is None
        assert nudges == [1]  # the third is not left to the sweeper

    assert services.relay_outbox() == 2
    assert [m.id for m in delivered] == [first, held, third]


@pytest.mark.django_db(transaction=True)
def test_a_relay_that_delivered_nothing_queues_no_other(delivered, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held back entirely behind another relay's rows: queueing a relay again would only loop
    until that relay commits (it goes on by itself, or the sweep comes)."""
    first, _second = emit_many(2, aggregates=1)
    nudges: list[int] = []
    monkeypatch.setattr(outbox_module, "_nudge_relay", lambda: nudges.append(1))

    def lock_the_first() -> None:
        list(OutboxEvent.objects.select_for_update().filter(pk=first))

    with open_transaction_elsewhere(lock_the_first):
        assert services.relay_outbox() == 0
    assert nudges == []


@pytest.mark.django_db(transaction=True)
def test_an_aggregates_events_commit_in_id_order_so_a_relay_cannot_overtake_one(delivered) -> None:
    """Two transactions write to one aggregate: the first draws the lower id and stays open.
    The second must wait for it, or it would commit the higher id first and a relay would
    deliver it ahead of the lower one."""
    second_done = threading.Event()

    def second_writer() -> None:
        try:
            emit_many(1, aggregates=1)
            second_done.set()
        finally:
            connection.close()

    with open_transaction_elsewhere(lambda: emit_many(1, aggregates=1)):
        second = threading.Thread(target=second_writer)
        second.start()
        second_done.wait(1)  # time to commit, were it not held until the first commits
        assert services.relay_outbox() == 0
    second.join(30)
    assert second_done.is_set()

    assert services.relay_outbox() == 2
    ids = [m.id for m in delivered]
    assert ids == sorted(ids)


@pytest.mark.django_db
def test_prune_removes_only_old_published_events() -> None:
    old, recent, pending = emit_many(3, aggregates=1)
    OutboxEvent.objects.filter(pk=old).update(published_at=timezone.now() - timedelta(days=8))
    OutboxEvent.objects.filter(pk=recent).update(published_at=timezone.now())

    assert services.prune_published_events(older_than=timedelta(days=7)) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent, pending}


@pytest.mark.django_db(transaction=True)
def test_commit_nudges_a_real_celery_worker_to_relay(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
        "DATABASE_URL": url_of_test_database(),
        "REDIS_URL": settings.REDIS_URL,
    }
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "tradingbot", "worker", "-Q", "outbox", "--pool", "solo",
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        env=env,
        stdout=open(tmp_path / "worker.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        (event_id,) = emit_many(1, aggregates=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if OutboxEvent.objects.filter(pk=event_id, published_at__isnull=False).exists():
                break
            time.sleep(0.2)
        assert OutboxEvent.objects.get(pk=event_id).published_at is not None, (
            tmp_path / "worker.log"
        ).read_text()
    finally:
        worker.terminate()
        worker.wait(20)
