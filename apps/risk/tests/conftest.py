"""Risk fixtures: an account on known instruments with a fresh BTCUSDT mark, and the
execution fixtures (recording venue) for the order-path tests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.execution.models import ExchangeAccount
from apps.execution.tests.conftest import (  # noqa: F401 - fixtures
    instrument,
    restore_gates,
    sends_by_hand,
    venue,
)
from apps.execution.tests.factories import AccountFactory
from apps.execution.tests.live import sim  # noqa: F401 - the simulator, for tests of the live path
from apps.portfolio.tests.factories import MarkFactory, instruments

MARK = Decimal("30000")


@pytest.fixture
def account(user) -> ExchangeAccount:
    instruments()
    MarkFactory.create(symbol="BTCUSDT", price=MARK, as_of=timezone.now())
    return AccountFactory.create(owner=user)
