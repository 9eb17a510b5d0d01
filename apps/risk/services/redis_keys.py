"""Redis access for risk state. Keys live under the cache key prefix (one namespace per
deployment, and per test run)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


def key(name: str) -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:risk:{name}"


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def client() -> redis.Redis:
    """A pooled client for settings.REDIS_URL (short timeouts: risk must answer fast)."""
    return _client(settings.REDIS_URL)
