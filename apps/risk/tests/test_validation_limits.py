"""Each limit rejects the order that would break it and accepts the one exactly at it;
exposure reserved by open orders counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.execution.tests.factories import OrderFactory
from apps.portfolio.tests.factories import PnlSnapshotFactory, PositionFactory
from apps.risk.services import validate_order

from .factories import limits

D = Decimal


def check(account, quantity: str, *, side: str = "BUY", price: str | None = "30000", symbol: str = "BTCUSDT"):
    return validate_order(
        account_id=account.pk,
        symbol=symbol,
        side=side,
        order_type="LIMIT" if price else "MARKET",
        quantity=D(quantity),
        price=D(price) if price else None,
        use_cache=False,
    )


def codes(approval) -> list[str]:
    return [r.code for r in approval.reasons]


def holding(account, quantity: str = "0.5") -> None:
    """A 0.5 BTC position (15,000 USDT at the 30,000 mark) and an open buy reserving 0.2 BTC
    (6,000 USDT at its limit price)."""
    PositionFactory.create(account=account, quantity=D(quantity), cost_basis=D(quantity) * 30000)
    OrderFactory.create(account=account, quantity=D("0.3"), filled_quantity=D("0.1"), price=D("30000"))


@pytest.mark.django_db
def test_no_limits_approves(account) -> None:
    approval = check(account, "100")
    assert approval.approved
    assert approval.limits_version == "none"


@pytest.mark.django_db
def test_max_order_notional_boundary(account) -> None:
    limits(account, max_order_notional=D("300"))
    assert check(account, "0.01").approved  # 300.00 exactly
    rejected = check(account, "0.01001")  # 300.30
    assert codes(rejected) == ["max_order_notional"]
    assert D(rejected.reasons[0].value) == D("300.30")
    assert codes(check(account, "0.01001", side="SELL")) == ["max_order_notional"]  # both sides


@pytest.mark.django_db
def test_market_order_is_valued_at_the_mark(account) -> None:
    limits(account, max_order_notional=D("300"))
    assert check(account, "0.01", price=None).approved
    assert codes(check(account, "0.0101", price=None)) == ["max_order_notional"]


@pytest.mark.django_db
def test_max_open_orders_counts_existing_open_orders_only(account) -> None:
    limits(account, max_open_orders=2)
    OrderFactory.create(account=account, status=OrderStatus.PARTIALLY_FILLED)
    OrderFactory.create(account=account, status=OrderStatus.FILLED)
    OrderFactory.create(account=account, status=OrderStatus.CANCELED)
    assert check(account, "0.001").approved  # 1 open + this one = 2
    OrderFactory.create(account=account, status=OrderStatus.NEW)
    assert codes(check(account, "0.001")) == ["max_open_orders"]


@pytest.mark.django_db
def test_max_position_size_includes_open_buy_reservations(account) -> None:
    holding(account)
    limits(account, max_position_size=D("1"))
    assert check(account, "0.3").approved  # 0.5 held + 0.2 reserved + 0.3 = 1
    assert codes(check(account, "0.30001")) == ["max_position_size"]
    assert check(account, "5", side="SELL").approved  # a sell only reduces the position


@pytest.mark.django_db
def test_max_symbol_exposure_includes_open_buy_reservations(account) -> None:
    holding(account)
    limits(account, symbol="BTCUSDT", max_symbol_exposure=D("30000"))
    assert check(account, "0.3").approved  # 15,000 + 6,000 + 9,000
    assert codes(check(account, "0.30001")) == ["max_symbol_exposure"]


@pytest.mark.django_db
def test_max_total_exposure_boundary(account) -> None:
    holding(account)
    limits(account, max_total_exposure=D("24000"))
    assert check(account, "0.1").approved  # 15,000 + 6,000 + 3,000
    assert codes(check(account, "0.10001")) == ["max_total_exposure"]


@pytest.mark.django_db
def test_symbol_row_and_account_row_both_apply(account) -> None:
    limits(account, max_order_notional=D("1000"))
    limits(account, symbol="BTCUSDT", max_order_notional=D("300"))
    rejected = check(account, "0.02")
    assert codes(rejected) == ["max_order_notional"]
    assert D(rejected.reasons[0].limit) == 300
    assert "*1" in rejected.limits_version
    assert "BTCUSDT1" in rejected.limits_version


@pytest.mark.django_db
def test_max_daily_loss_at_the_limit_accepts_beyond_rejects(account) -> None:
    yesterday = timezone.now().date() - timedelta(days=1)
    PnlSnapshotFactory.create(
        account=account, date=yesterday, realized_pnl=0, unrealized_pnl=0, fees=0, net_pnl=0,
        gross_exposure=0, net_exposure=0, is_stale=False, taken_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    position = PositionFactory.create(account=account, quantity=0, realized_pnl=D("-100"))
    limits(account, max_daily_loss=D("100"))
    assert check(account, "0.001").approved  # lost exactly 100
    position.realized_pnl = D("-100.01")
    position.save()
    rejected = check(account, "0.001")
    assert codes(rejected) == ["max_daily_loss"]
    assert D(rejected.reasons[0].value) == D("100.01")


@pytest.mark.django_db
def test_no_price_to_value_the_order_is_a_reason_not_an_approval(account) -> None:
    limits(account, max_order_notional=D("300"))
    assert codes(check(account, "0.001", price=None, symbol="BNBUSDT")) == ["no_reference_price"]
