from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.execution import gates, venues
from apps.execution.models import ExchangeAccount
from apps.execution.services import orders as orders_module

from .factories import RecordingVenue, btcusdt
from .live import account, sim  # noqa: F401 - fixtures of the live-path tests (simulator)


@pytest.fixture
def venue() -> Iterator[RecordingVenue]:
    """Every account mode is served by one recording venue for the test's duration."""
    recording = RecordingVenue()
    saved = dict(venues._factories)
    for mode in ExchangeAccount.Mode.values:
        venues.register_adapter(mode, lambda _account: recording)
    yield recording
    venues._factories.clear()
    venues._factories.update(saved)


@pytest.fixture
def instrument(db):
    return btcusdt()


@pytest.fixture
def restore_gates() -> Iterator[None]:
    saved = (gates._pre_trade_check, gates._kill_switch)
    yield
    gates._pre_trade_check, gates._kill_switch = saved


@pytest.fixture
def sends_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake queues no send: the test runs `send_order_to_exchange` itself, at its moment
    (with `celery_eager`, the queued send would otherwise run inline at intake)."""
    monkeypatch.setattr(orders_module, "dispatch_send", lambda order_id: None)
