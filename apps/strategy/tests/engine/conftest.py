"""Engine fixtures: the project's simulator on loopback with a simulated account, Celery in
eager mode (these tests are about the step's logic; tests/engine/test_worker_e2e.py runs the
real worker, beat and stream), a healthy risk heartbeat and the kill switch off."""

from __future__ import annotations

import pytest

from apps.execution.models import ExchangeAccount
from apps.execution.tests.live import account as sim_account  # noqa: F401 - fixture
from apps.execution.tests.live import sim  # noqa: F401 - fixture
from apps.execution.user_stream import StreamHealth
from apps.risk.services import deactivate_kill_switch, publish_heartbeat


@pytest.fixture
def account(sim_account: ExchangeAccount) -> ExchangeAccount:  # noqa: F811
    return sim_account


@pytest.fixture
def eager(settings) -> None:
    """Tasks run inline. The app reads the namespaced Django setting on every lookup (an
    assignment to app.conf does not win over it), so the setting is what is overridden."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def trading_on() -> None:
    publish_heartbeat()
    deactivate_kill_switch(reason="test", actor="test")


@pytest.fixture
def stream_connected(account: ExchangeAccount) -> None:
    """The account's user-data stream reports itself connected (as run_user_stream does)."""
    health = StreamHealth(account.pk)
    health.connected()
    health.heartbeat()
