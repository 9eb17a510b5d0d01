"""The send task's publish (`apps.core.broker.publish_task`, used after every order intake
commits): the message in Redis is the one Celery's `delay` sends, a failure falls back to
Celery's path, and a real worker receives and runs what the API queued."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from apps.core import broker
from apps.core.logcontext import bind, unbind
from apps.core.testing import url_of_test_database
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import tasks
from apps.execution.models import ExchangeAccount, Order
from tradingbot.celery import app

QUEUE = "execution"
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "30000.00"}
WORKER_START_TIMEOUT = 60


@pytest.fixture
def send_queue() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The execution queue emptied; yields a reader of the messages queued since, oldest first."""
    connection: Any
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_purge(QUEUE)
        list_key = channel._q_for_pri(QUEUE, tasks.submit_order_to_exchange.priority)
        client = redis.Redis.from_url(settings.REDIS_URL)

        def queued() -> list[dict[str, Any]]:
            raw_messages: list[bytes] = client.lrange(list_key, 0, -1)  # type: ignore[assignment]
            return [json.loads(raw) for raw in reversed(raw_messages)]

        yield queued
        channel.queue_purge(QUEUE)
        client.close()


@pytest.fixture
def lean_publishes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The arguments of every message that took the short path."""
    calls: list[tuple[Any, ...]] = []
    real = broker._publish

    def spy(task: Any, args: tuple[Any, ...], plan: Any) -> None:
        calls.append(args)
        real(task, args, plan)

    monkeypatch.setattr(broker, "_publish", spy)
    return calls


def _without_ids(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its per-message ids replaced, after checking they are consistent."""
    headers, properties = dict(message["headers"]), dict(message["properties"])
    task_id = headers["id"]
    assert headers["root_id"] == properties["correlation_id"] == task_id
    uuid.UUID(task_id), uuid.UUID(properties["delivery_tag"])
    headers.update(id="ID", root_id="ID", origin="ORIGIN")
    properties.update(correlation_id="ID", delivery_tag="TAG")
    return {**message, "headers": headers, "properties": properties}


def test_the_short_path_queues_the_message_celery_queues(send_queue, lean_publishes) -> None:
    token = bind(request_id="req-publish-test")
    try:
        tasks.submit_order_to_exchange.delay(41)
        broker.publish_task(tasks.submit_order_to_exchange, 41)  # the first of a process may be Celery's
        broker.publish_task(tasks.submit_order_to_exchange, 41)
    finally:
        unbind(token)

    assert lean_publishes, "the short path was never taken"
    celerys, *ours = send_queue()
    assert len(ours) == 2
    for message in ours:
        assert _without_ids(message) == _without_ids(celerys)
        assert message["headers"]["id"] != celerys["headers"]["id"]
        assert message["headers"]["request_id"] == "req-publish-test"
        args, kwargs, embed = json.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([41], {})
        assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def test_a_failing_short_path_falls_back_to_celery(send_queue, lean_publishes, monkeypatch) -> None:
    broker.publish_task(tasks.submit_order_to_exchange, 42)  # a plan recorded (first message)
    lean_publishes.clear()

    def broken(self: Any, queue: str, message: dict[str, Any]) -> None:
        raise redis.ConnectionError("broker gone")

    monkeypatch.setattr(broker.Channel, "put_message", broken)
    broker.publish_task(tasks.submit_order_to_exchange, 43)

    assert lean_publishes == [(43,)]  # it was tried, failed, and Celery sent the message once
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in send_queue()] == [[42], [43]]


def test_eager_mode_runs_the_task_as_celery_would(celery_eager, lean_publishes, monkeypatch) -> None:
    ran: list[int] = []

    def send(*, order_id: int) -> _Sent:
        ran.append(order_id)
        return _Sent()

    monkeypatch.setattr("apps.execution.services.send_order_to_exchange", send)
    broker.publish_task(tasks.submit_order_to_exchange, 44)
    broker.publish_task(tasks.submit_order_to_exchange, 45)
    assert ran == [44, 45]
    assert lean_publishes == []


def test_other_threads_publish_through_celery(send_queue, lean_publishes) -> None:
    """The short path's channel is one per process: a threaded server's request threads
    share Celery's producer pool instead (the message is the same)."""
    broker.publish_task(tasks.submit_order_to_exchange, 46)  # a plan recorded (first message)
    lean_publishes.clear()
    worker = threading.Thread(target=broker.publish_task, args=(tasks.submit_order_to_exchange, 47))
    worker.start()
    worker.join(10)
    broker.publish_task(tasks.submit_order_to_exchange, 48)

    assert lean_publishes == [(48,)]  # the main thread's message only
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in send_queue()] == [[46], [47], [48]]


class _Sent:
    status = "SUBMITTED"


def _start_worker(log: Path, sim: SimulatorServer) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
        "DATABASE_URL": url_of_test_database(),
        "REDIS_URL": settings.REDIS_URL,
        "SIMULATOR_BASE_URL": sim.base_url,
        "SIMULATOR_WS_API_URL": sim.ws_api_url,
    }
    return subprocess.Popen(  # noqa: S603 - our interpreter, fixed argv
        [sys.executable, "-m", "celery", "-A", "tradingbot", "worker", "-Q", QUEUE, "--pool", "solo",
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait(predicate: Callable[[], bool], timeout: float, log: Path, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"worker exited early:\n{log.read_text()}")
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"not seen within {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.mark.django_db(transaction=True)
def test_orders_accepted_by_the_api_are_sent_by_a_real_worker(
    tmp_path: Path, sim: SimulatorServer, account: ExchangeAccount, api_client, send_queue, lean_publishes
) -> None:
    ids = []
    for _ in range(3):
        response = api_client.post(
            "/api/v1/orders/",
            json.dumps({**ORDER, "account": account.pk}),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert len(lean_publishes) >= 2  # at most the process's first send went through Celery
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in send_queue()] == [[i] for i in ids]

    log = tmp_path / "worker.log"
    worker = _start_worker(log, sim)
    try:

        def all_sent() -> bool:
            return all(
                status == "SUBMITTED" and attempts == 1
                for status, attempts in Order.objects.filter(pk__in=ids).values_list(
                    "status", "submit_attempts"
                )
            )

        _wait(all_sent, WORKER_START_TIMEOUT, log, worker)
    finally:
        worker.terminate()
        worker.wait(20)
    assert Order.objects.filter(pk__in=ids).exclude(exchange_order_id="").count() == 3
    assert "Received unregistered task" not in log.read_text()


def test_a_broker_that_cannot_be_reached_is_an_error_not_a_message_elsewhere(send_queue, request) -> None:
    broker.publish_task(tasks.submit_order_to_exchange, 46)  # a plan and a publisher for the live URL
    broker.publish_task(tasks.submit_order_to_exchange, 47)
    request.getfixturevalue("redis_down")  # the broker URL now names a closed port
    with pytest.raises(Exception):  # noqa: B017, PT011 - kombu's OperationalError after its retries
        broker.publish_task(tasks.submit_order_to_exchange, 48)
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in send_queue()] == [[46], [47]]


def test_wrong_arguments_are_refused_as_celery_refuses_them(send_queue, lean_publishes) -> None:
    broker.publish_task(tasks.submit_order_to_exchange, 49)  # a plan recorded (first message)
    lean_publishes.clear()
    with pytest.raises(TypeError):
        broker.publish_task(tasks.submit_order_to_exchange, 50, 51)
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in send_queue()] == [[49]]
    assert lean_publishes == []
