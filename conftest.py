"""Project-wide fixtures: real PostgreSQL (pytest-django) and real Redis (settings.REDIS_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from kombu import pools
from rest_framework.test import APIClient

from apps.core.tests.factories import UserFactory, access_token_for
from tradingbot.celery import app


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The reused test database (`--reuse-db`) starts empty. A run stopped inside a
    transactional test never runs that test's flush, and its rows would fail the next run's
    tests that count rows (CI runs on a machine whose PostgreSQL keeps the test database)."""
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _clean_cache_keys() -> Iterator[None]:
    """Each test starts with none of the test run's cache keys (rate-limit counters, …).

    Only keys under the test key prefix are deleted: never FLUSHDB someone's Redis.
    """
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Tasks run inline, for tests about a task's logic rather than its delivery.

    The app reads Django settings under the CELERY_ namespace and a value set on `app.conf`
    shadows the setting for good, so both spellings are set and both are put back exactly
    as they were (not to False: a later test overriding the setting must still win).
    """
    from tradingbot.celery import app  # noqa: PLC0415 - import the app only where needed

    keys = ("task_always_eager", "CELERY_TASK_ALWAYS_EAGER")
    changes = app.conf.changes
    saved = {k: changes[k] for k in keys if k in changes}
    app.conf.update(task_always_eager=True, CELERY_TASK_ALWAYS_EAGER=True)
    yield
    for key in keys:
        changes.pop(key, None)
    changes.update(saved)


@pytest.fixture
def user(db):
    return UserFactory.create()


@pytest.fixture
def other_user(db):
    return UserFactory.create()


def _client_for(u) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(u)}")
    return client


@pytest.fixture
def api_client(user) -> APIClient:
    """An API client authenticated as `user` with a real JWT."""
    return _client_for(user)


@pytest.fixture
def other_api_client(other_user) -> APIClient:
    return _client_for(other_user)


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    """Redis (risk state, the cache and the Celery broker) unreachable: a closed port on loopback."""
    dead = "redis://127.0.0.1:9/0"
    saved_broker = (app.conf.broker_url, app.conf.broker_write_url)
    settings.REDIS_URL = dead
    app.conf.broker_url = app.conf.broker_write_url = dead  # publishing uses the write URL
    _reset_broker_pool()
    yield
    app.conf.broker_url, app.conf.broker_write_url = saved_broker
    _reset_broker_pool()
    from apps.risk.services import redis_keys  # noqa: PLC0415 - only where needed

    redis_keys._client.cache_clear()


def _reset_broker_pool() -> None:
    """Drop pooled broker connections so the next publish connects to the current URL."""
    app.pool.force_close_all()  # type: ignore[attr-defined]
    app._pool = None  # type: ignore[attr-defined]
    pools.reset()  # type: ignore[attr-defined]  # kombu's process-wide pools, else a closed one comes back
    app.amqp._producer_pool = None  # type: ignore[attr-defined]  # producers of the old pool
