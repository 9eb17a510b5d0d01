"""Strategy fixtures: a BTCUSDT instrument, an account of `user`, fresh candles, a healthy
risk service (heartbeat) and the kill switch off — the state in which a strategy may start."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.execution.models import ExchangeAccount
from apps.execution.tests.conftest import instrument  # noqa: F401 - fixture
from apps.execution.tests.factories import AccountFactory
from apps.risk.services import deactivate_kill_switch, publish_heartbeat

from .factories import store_candles


@pytest.fixture
def account(user) -> ExchangeAccount:
    return AccountFactory.create(owner=user)


@pytest.fixture
def startable(instrument) -> None:  # noqa: F811 - the fixture imported above
    """Everything a start needs except the strategy itself."""
    store_candles(last_close_before=timezone.now())
    publish_heartbeat()
    deactivate_kill_switch(reason="test", actor="test")
