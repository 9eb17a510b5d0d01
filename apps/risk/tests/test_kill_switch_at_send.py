"""The kill switch engaged while an order waits inside the adapter for the account's ORDERS
window: the adapter asks the send guard when the request would leave, so the order is not
sent (docs/EXECUTION.md, "send guard"). Against the real adapter, its real order budget and
the local simulator."""

from __future__ import annotations

import pytest

from apps.core.domain import OrderStatus
from apps.exchange.binance.ratelimit import OrderCountBudget
from apps.execution import services, venue_factories
from apps.execution.models import ExchangeAccount
from apps.execution.tests.factories import btcusdt
from apps.execution.tests.live import API_KEY, API_SECRET
from apps.execution.tests.test_send_races import new_order, venue_orders
from apps.risk.services.kill_switch import activate_kill_switch, deactivate_kill_switch


@pytest.fixture
def sim_account(sim, user) -> ExchangeAccount:
    """An account on the simulator (risk's own `account` fixture is a recorded one)."""
    btcusdt()
    return services.create_account(
        owner=user, name="sim", mode=ExchangeAccount.Mode.SIMULATED, api_key=API_KEY, api_secret=API_SECRET
    )


@pytest.mark.django_db(transaction=True)
def test_an_order_waiting_for_the_order_budget_is_not_sent_after_the_kill_switch(
    sim, sim_account, celery_eager, sends_by_hand
) -> None:
    """A burst used the account's 10 s ORDERS window; the next send passes every check before
    the adapter and waits inside it for the next window. The operator engages the kill switch,
    canceling open orders, during the wait: the order is not sent, and is closed as canceled
    before it ever reached the venue."""
    now = [1_000_000.0]
    engaged: list[bool] = []

    def wait_for_window(seconds: float) -> None:
        if not engaged:
            engaged.append(True)
            activate_kill_switch(reason="runaway strategy", actor="ops", cancel_open_orders=True)
        now[0] += seconds

    adapter = venue_factories.binance_adapter_for(sim_account)
    adapter.symbol_filters(symbol="BTCUSDT")
    adapter.order_budget = OrderCountBudget(
        per_10_seconds=1, safety_margin=0, clock=lambda: now[0], sleep=wait_for_window
    )
    adapter.order_budget.acquire()  # the burst used this window's order
    order = new_order(sim_account, "budget-wait-1")
    try:
        services.send_order_to_exchange(order_id=order.pk)
        assert engaged == [True]
        assert venue_orders(sim) == []
        order.refresh_from_db()
        assert order.status == OrderStatus.CANCELED
        assert order.events.filter(to_status=OrderStatus.CANCELED).get().payload == {
            "source": "never_sent",
            "reason": "kill_switch_active",
        }
    finally:
        deactivate_kill_switch(reason="test cleanup", actor="test")
