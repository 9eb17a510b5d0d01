"""Found by the soak (docs/RELIABILITY.md, seed 2): a MARKET order whose send timed out after
the venue executed it (-1007) stays NEW with an unknown outcome and no venue order id. A
reconciliation run inside the grace period sees its trade in myTrades — which carries the
venue's order id but no client order id — cannot tie it to any order, skips it, and moves the
trade cursor past it. The next run acknowledges the order, but the trade is never fetched
again: a lost fill, and an order SUBMITTED forever with a "venue executed quantity differs"
note every minute."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.domain import OrderStatus
from apps.exchange.simulator.faults import TIMEOUT
from apps.execution import services
from apps.execution.models import Fill, Order
from apps.execution.services.orders import SubmissionPending

from .live import API_KEY, books_match_ledger
from .test_reconciliation import age


@pytest.mark.django_db(transaction=True)
def test_a_trade_of_a_send_with_unknown_outcome_is_booked_once_the_order_is_found(sim, account) -> None:
    order = services.submit_order(
        account=account, symbol="BTCUSDT", side="BUY", order_type="MARKET", quantity=Decimal("0.01"),
        price=None, client_order_id="unknown-outcome",
    ).order  # fmt: skip
    sim.faults.fail_next(1, TIMEOUT, target="/api/v3/order")  # executed, answer lost
    with pytest.raises(SubmissionPending):
        services.send_order_to_exchange(order_id=order.pk)
    assert len(sim.trades(API_KEY)) == 1

    services.reconcile_account(account_id=account.pk, trigger="test")  # within the grace period
    age(order, 30)
    services.reconcile_account(account_id=account.pk, trigger="test")  # finds the order

    order.refresh_from_db()
    assert order.exchange_order_id
    assert Fill.objects.filter(order=order).count() == 1
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal("0.01"))
    assert books_match_ledger(account, sim)
    assert Order.objects.count() == 1
