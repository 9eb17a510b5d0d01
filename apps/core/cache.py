"""Django's own Redis cache with django-prometheus's hit/miss counters, and one redis-py
client per connection pool.

django-prometheus ships the counters as `NativeRedisCache`, but its module imports
`django_redis`, which we do not use; the same few lines here.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation
(~0.2 ms of Python each: its response-callback tables are rebuilt every time) around the
same pool. A `redis.Redis` is only a handle on its pool, safe to share, so the one built
for a pool is kept: the same connections, the same commands, the same errors."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

BACKEND = "native_redis"


class PooledClientRedisCacheClient(RedisCacheClient):
    """`RedisCacheClient` that builds one `redis.Redis` per pool instead of one per call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # private, not in the stubs
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class MeteredRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PooledClientRedisCacheClient

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend=BACKEND).inc()
        try:
            result = super().get(key, default=None, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend=BACKEND).inc()
            raise
        if result is None:
            django_cache_misses_total.labels(backend=BACKEND).inc()
            return default
        django_cache_hits_total.labels(backend=BACKEND).inc()
        return result
