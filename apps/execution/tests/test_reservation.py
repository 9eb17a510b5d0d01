"""open_order_reservation (one SQL aggregate) equals the sum over open orders done by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderStatus
from apps.execution.models import Order
from apps.execution.selectors import OPEN_ORDER_STATUSES, open_order_reservation

from .factories import AccountFactory, OrderFactory

ORDERS = st.lists(
    st.tuples(
        st.sampled_from(list(OrderStatus)),
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("50"), places=5),
        st.integers(min_value=0, max_value=100),  # percent filled
        st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("90000"), places=2)),
    ),
    max_size=12,
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ORDERS)
def test_the_aggregate_equals_the_sum_by_hand(rows) -> None:
    Order.objects.all().delete()
    account = AccountFactory.create()
    for i, (status, side, symbol, qty, pct, price) in enumerate(rows):
        filled = (qty * pct / 100).quantize(Decimal("0.00001"))
        OrderFactory.create(account=account, status=status, side=side, symbol=symbol, quantity=qty,
                            filled_quantity=filled, price=price, client_order_id=f"r{i}")  # fmt: skip
    for symbol in (None, "BTCUSDT"):
        expected_count, expected_qty, expected_notional = 0, Decimal(0), Decimal(0)
        for status, side, sym, qty, pct, price in rows:
            if status not in OPEN_ORDER_STATUSES or (symbol and sym != symbol):
                continue
            expected_count += 1
            if side == "BUY":
                remaining = qty - (qty * pct / 100).quantize(Decimal("0.00001"))
                expected_qty += remaining
                expected_notional += remaining * (price or 0)
        got = open_order_reservation(account.pk, symbol)
        assert (got.open_orders, got.buy_quantity, got.buy_notional) == (
            expected_count,
            expected_qty,
            expected_notional,
        )
