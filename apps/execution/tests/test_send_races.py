"""Sends that race the clock, the kill switch, reconciliation and a cancel: each against the real
adapter and the local simulator. An attempt's request is valid at the venue only until shortly
before its lease ends (`SendGuard`), so once the lease is over an order the venue does not know
was never placed; and the kill switch is asked after the adapter's waits, when the request
leaves (docs/EXECUTION.md, "Sending"; the kill-switch case is in apps/risk/tests/test_kill_switch_at_send.py,
since execution's tests do not import risk)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.exchange.adapter import SendGuard
from apps.exchange.errors import OrderNotSent
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services, venue_factories
from apps.execution.models import ExchangeAccount, Order, OrderEvent
from apps.execution.services import orders as orders_module
from apps.execution.services.orders import SubmissionPending

from .live import API_KEY


def _in_thread(fn: Callable[[], object]) -> list[BaseException]:
    """Run `fn` as another worker would: its own thread and database connection."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return errors


def new_order(account: ExchangeAccount, cid: str, order_type: str = "LIMIT") -> Order:
    return services.submit_order(
        account=account,
        symbol="BTCUSDT",
        side="BUY",
        order_type=order_type,
        quantity=Decimal("0.01"),
        price=Decimal("29000.00") if order_type == "LIMIT" else None,
        client_order_id=cid,
    ).order


def venue_orders(sim: SimulatorServer) -> list[tuple[str, str]]:
    return [(o.client_order_id, o.status.value) for o in sim.exchange.all_orders(API_KEY, "BTCUSDT")]


@pytest.mark.django_db(transaction=True)
def test_a_request_reaching_the_venue_after_its_deadline_is_refused_there(sim, account) -> None:
    """The request is signed with a recvWindow that ends by the guard's deadline: held up on
    the way for longer than that, the venue refuses it (-1021), and the adapter, asked again
    after its resync, sees the deadline passed and does not send it again."""
    order = new_order(account, "late-1")
    adapter = venue_factories.binance_adapter_for(account)
    adapter.symbol_filters(symbol="BTCUSDT")
    adapter.sync_time()
    windows: list[int] = []
    real_post = adapter.client.session.post

    def slow_network(*args: Any, **kwargs: Any) -> Any:
        windows.append(int(dict(kwargs["data"])["recvWindow"]))
        if len(windows) == 1:
            time.sleep(1.5)  # the first request is held up on its way to the venue
        return real_post(*args, **kwargs)

    adapter.client.session.post = slow_network
    guard = SendGuard(deadline=time.time() + 1.0, refusal=lambda: None)
    try:
        with pytest.raises(OrderNotSent) as refused:
            adapter.place_order(orders_module._request_of(order), guard=guard)
    finally:
        del adapter.client.session.post
    assert refused.value.code == "send_window_closed"
    assert len(windows) == 1
    assert 500 <= windows[0] <= 1000  # narrowed to the deadline, not the default 5000
    assert venue_orders(sim) == []
    assert adapter.client.REQUEST_RECVWINDOW == 5000  # the narrowing ends with the request


@pytest.mark.django_db(transaction=True)
def test_a_send_slower_than_its_lease_is_not_sent_a_second_time(sim, account, monkeypatch) -> None:
    """The first attempt is held up past its lease; a second delivery then claims the order,
    finds nothing on the venue and sends it. When the first attempt's request finally goes,
    its guard refuses it: one order on the venue, not two (a MARKET order would execute twice).
    Scaled down: a 1 s lease whose requests are valid until 0.2 s before it ends."""
    monkeypatch.setattr(orders_module, "SUBMIT_LEASE", timedelta(seconds=1))
    monkeypatch.setattr(orders_module, "SEND_DEADLINE_MARGIN", timedelta(seconds=0.2))
    order = new_order(account, "slow-send-1", order_type="MARKET")
    adapter = venue_factories.binance_adapter_for(account)
    real_place = adapter.place_order
    calls: list[str] = []

    def first_call_held_up(request: Any, **kwargs: Any) -> Any:
        calls.append(request.client_order_id)
        if len(calls) == 1:
            time.sleep(1.2)  # the lease has run out; the task is delivered again meanwhile
            assert _in_thread(lambda: services.send_order_to_exchange(order_id=order.pk)) == []
        return real_place(request, **kwargs)

    adapter.place_order = first_call_held_up  # type: ignore[method-assign]
    try:
        with pytest.raises(SubmissionPending):
            services.send_order_to_exchange(order_id=order.pk)
    finally:
        del adapter.place_order

    assert venue_orders(sim) == [("slow-send-1", "FILLED")]
    order.refresh_from_db()
    assert order.status in (OrderStatus.FILLED, OrderStatus.SUBMITTED)
    assert OrderEvent.objects.filter(order=order, payload__code="send_window_closed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_reconciliation_leaves_alone_an_order_whose_send_is_in_flight(sim, account) -> None:
    """An order past the resubmit window is being sent again (its lease is live) when a
    reconciliation run looks it up: the venue does not know it yet. The run must not close it
    as a lost submission: the request lands a moment later and the order is SUBMITTED."""
    order = new_order(account, "inflight-1")
    Order.objects.filter(pk=order.pk).update(
        submit_attempts=1, created_at=timezone.now() - timedelta(seconds=150)
    )
    adapter = venue_factories.binance_adapter_for(account)
    real_place = adapter.place_order

    def place_while_reconciliation_runs(request: Any, **kwargs: Any) -> Any:
        run = lambda: services.reconcile_account(account_id=account.pk, trigger="beat")  # noqa: E731
        assert _in_thread(run) == []
        return real_place(request, **kwargs)

    adapter.place_order = place_while_reconciliation_runs  # type: ignore[method-assign]
    try:
        services.send_order_to_exchange(order_id=order.pk)
    finally:
        del adapter.place_order

    assert venue_orders(sim) == [("inflight-1", "NEW")]
    services.reconcile_account(account_id=account.pk, trigger="beat")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


@pytest.mark.django_db(transaction=True)
def test_a_cancel_requested_while_the_send_is_in_flight_reaches_the_venue(
    sim, account, celery_eager, sends_by_hand
) -> None:
    """The user cancels while the send's request is on the wire, and the cancel task reaches
    the venue first ("unknown order"). When the send's answer is recorded, the order is
    canceled on the venue too, without waiting for reconciliation."""
    order = new_order(account, "cancel-race-1")
    adapter = venue_factories.binance_adapter_for(account)
    real_place = adapter.place_order

    def place_after_user_cancels(request: Any, **kwargs: Any) -> Any:
        def cancel_as_api_and_task_would() -> None:
            services.request_cancel(order_id=order.pk, requested_by="user:test")
            services.send_cancel_to_exchange(order_id=order.pk)  # the cancel task

        assert _in_thread(cancel_as_api_and_task_would) == []
        return real_place(request, **kwargs)

    adapter.place_order = place_after_user_cancels  # type: ignore[method-assign]
    try:
        services.send_order_to_exchange(order_id=order.pk)
    finally:
        del adapter.place_order

    order.refresh_from_db()
    assert venue_orders(sim) == [("cancel-race-1", "CANCELED")]
    assert order.status == OrderStatus.CANCELED


def test_a_guard_past_its_deadline_does_not_speak_for_the_kill_switch() -> None:
    """Past its deadline another attempt may own the order: the guard reports the closed
    window, and never asks (or reports) the kill switch for it."""
    asked: list[bool] = []

    def kill_switch_on() -> str:
        asked.append(True)
        return "kill_switch_active"

    with pytest.raises(OrderNotSent) as closed:
        SendGuard(deadline=100.0, refusal=kill_switch_on).clearance_ms(longest_ms=5000, now=100.2)
    assert (closed.value.code, asked) == ("send_window_closed", [])
    with pytest.raises(OrderNotSent) as refused:
        SendGuard(deadline=100.0, refusal=kill_switch_on).clearance_ms(longest_ms=5000, now=90.0)
    assert refused.value.code == "kill_switch_active"
    assert SendGuard(deadline=100.0, refusal=lambda: None).clearance_ms(longest_ms=5000, now=90.0) == 5000
    assert SendGuard(deadline=100.0, refusal=lambda: None).clearance_ms(longest_ms=5000, now=98.8) == 1200
