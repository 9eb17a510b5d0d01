"""The broker transport (apps/core/broker.py) on real Redis: publishes go through one client
per pool, arrive in order, and a new pool gets a new client."""

from __future__ import annotations

import uuid
from typing import Any

from kombu import Producer, Queue

from apps.core import broker
from tradingbot.celery import app


def test_publishes_share_one_client_per_pool_and_arrive_in_order() -> None:
    name = f"test-broker-{uuid.uuid4().hex}"
    connection: Any
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, broker.Channel)
        producer = Producer(channel)
        queue = Queue(name, routing_key=name)

        producer.publish({"n": 1}, routing_key=name, declare=[queue])
        first = channel._create_client()
        producer.publish({"n": 2}, routing_key=name)
        assert channel._create_client() is first

        channel._disconnect_pools()  # what kombu does when the connection is closed or lost
        producer.publish({"n": 3}, routing_key=name)
        assert channel._create_client() is not first
        assert channel._create_client().connection_pool is channel.pool

        with connection.SimpleQueue(queue) as received:
            payloads = [received.get(timeout=2).payload for _ in range(3)]
            received.queue.delete()
    assert payloads == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_celery_publishes_through_this_transport() -> None:
    connection: Any
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
