"""The shared cache (apps/core/cache.py) on real Redis: one redis-py client per pool, and the
cache still behaves as Django's."""

from __future__ import annotations

import threading

import pytest
import redis
from django.core.cache import cache
from prometheus_client import REGISTRY

from apps.core.cache import BACKEND, MeteredRedisCache, PooledClientRedisCacheClient


def test_every_operation_uses_the_one_client_built_for_the_pool() -> None:
    client = cache._cache  # type: ignore[attr-defined]
    assert isinstance(client, PooledClientRedisCacheClient)

    first = client.get_client(write=True)

    assert client.get_client(write=True) is first
    assert client.get_client("some-key") is first  # one server: reads and writes share the pool
    assert first.connection_pool is client._get_connection_pool(write=True)  # type: ignore[attr-defined]


def test_values_round_trip_and_add_is_still_set_if_absent() -> None:
    cache.delete("cache-test")

    assert cache.add("cache-test", {"a": 1}, timeout=30) is True
    assert cache.add("cache-test", {"a": 2}, timeout=30) is False
    assert cache.get("cache-test") == {"a": 1}
    cache.set_many({"cache-test-2": 5, "cache-test-3": "x"}, timeout=30)
    assert cache.get_many(["cache-test", "cache-test-2", "cache-test-3"]) == {
        "cache-test": {"a": 1},
        "cache-test-2": 5,
        "cache-test-3": "x",
    }
    cache.delete_many(["cache-test", "cache-test-2", "cache-test-3"])
    assert cache.get("cache-test", default="gone") == "gone"


def test_threads_share_the_client_without_mixing_answers() -> None:
    """A redis.Redis borrows a pooled connection per command: threads sharing it each read
    their own values."""
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(200):
            key = f"cache-thread-{n}-{i}"
            cache.set(key, (n, i), timeout=30)
            got = cache.get(key)
            if got != (n, i):
                errors.append(f"{key}: {got!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []


def test_a_redis_failure_still_raises_and_counts_a_failed_get() -> None:
    dead = MeteredRedisCache("redis://127.0.0.1:9/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    failed = REGISTRY.get_sample_value("django_cache_get_fail_total", {"backend": BACKEND}) or 0

    for _ in range(2):  # the second call goes through the kept client
        with pytest.raises(redis.ConnectionError):
            dead.get("cache-test")

    assert REGISTRY.get_sample_value("django_cache_get_fail_total", {"backend": BACKEND}) == failed + 2
