"""Risk fixtures: an account on known instruments with a fresh BTCUSDT mark, and the
execution fixtures (recording venue) for the order-path tests."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone
from kombu import pools

from apps.execution.models import ExchangeAccount
from apps.execution.tests.conftest import instrument, restore_gates, venue  # noqa: F401 - fixtures
from apps.execution.tests.factories import AccountFactory
from apps.portfolio.tests.factories import MarkFactory, instruments
from apps.risk.services import redis_keys
from tradingbot.celery import app

MARK = Decimal("30000")


@pytest.fixture
def account(user) -> ExchangeAccount:
    instruments()
    MarkFactory.create(symbol="BTCUSDT", price=MARK, as_of=timezone.now())
    return AccountFactory.create(owner=user)


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    """Redis (risk state and the Celery broker) unreachable: a closed port on loopback."""
    dead = "redis://127.0.0.1:9/0"
    saved_broker = (app.conf.broker_url, app.conf.broker_write_url)
    settings.REDIS_URL = dead
    app.conf.broker_url = app.conf.broker_write_url = dead  # publishing uses the write URL
    _reset_broker_pool()
    yield
    app.conf.broker_url, app.conf.broker_write_url = saved_broker
    _reset_broker_pool()
    redis_keys._client.cache_clear()


def _reset_broker_pool() -> None:
    """Drop pooled broker connections so the next publish connects to the current URL."""
    app.pool.force_close_all()  # type: ignore[attr-defined]
    app._pool = None  # type: ignore[attr-defined]
    pools.reset()  # type: ignore[attr-defined]  # kombu's process-wide pools, else a closed one comes back
    app.amqp._producer_pool = None  # type: ignore[attr-defined]  # producers of the old pool
