from __future__ import annotations

import pytest

from apps.execution.models import ExchangeAccount
from apps.execution.tests.factories import AccountFactory

from .factories import instruments


@pytest.fixture
def markets(db) -> None:
    """BTCUSDT, ETHBTC and BNBUSDT are known instruments."""
    instruments()


@pytest.fixture
def account(user, markets) -> ExchangeAccount:
    return AccountFactory.create(owner=user)
