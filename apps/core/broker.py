"""The Celery broker transport: kombu's Redis transport, publishing through one redis-py
client per connection pool.

kombu's Redis channel builds a new `redis.Redis` around its pool for every message it puts
(`conn_or_acquire` → `_create_client`), ~0.2 ms of Python per publish (its response-callback
tables are rebuilt each time) — one per order sent. A `redis.Redis` is only a handle on its
pool, safe to share, so the channel keeps the one it built while its pool is the same (a
reconnect builds a new pool, and with it a new client). Same connections, same commands,
same errors; consuming (the asynchronous client) is untouched.

Selected by `CELERY_BROKER_TRANSPORT` (an explicit transport wins over the URL's scheme in
kombu), so the broker URL stays a plain `redis://` URL.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis  # type: ignore[attr-defined]  # not in the stubs


class Channel(kombu_redis.Channel):
    _publishing_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._publishing_client
        if client is None or client.connection_pool is not pool:
            client = self._publishing_client = self.Client(connection_pool=pool)
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
