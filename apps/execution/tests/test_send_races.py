"""Sends that race the clock, the kill switch, reconciliation and a cancel: each against the real
adapter and the local simulator. An attempt's request is valid at the venue only until shortly
before its lease ends (`SendGuard`), so once the lease is over an order the venue does not know
was never placed; and the kill switch is asked after the adapter's waits, when the request
leaves (docs/EXECUTION.md, "Sending"; the kill-switch case is in apps/risk/tests/test_kill_switch_at_send.py,
since execution's tests do not import risk)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.db import connection
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.core.errors import ServiceUnavailable
from apps.exchange.adapter import SendGuard
from apps.exchange.errors import FatalVenueError, OrderNotSent
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services, venue_factories, venues
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


@contextmanager
def cancel_while_the_order_post_is_on_the_wire(
    adapter: Any, order: Order, *, lose_the_answer: bool = False
) -> Iterator[list[BaseException]]:
    """Past the send guard, as the POST leaves: the user cancels and the cancel task runs (in
    another worker) before the POST reaches the venue. Yields what the cancel task raised."""
    raised: list[BaseException] = []
    real_post = adapter.client.session.post

    def post(*args: Any, **kwargs: Any) -> Any:
        def cancel_as_api_and_task_would() -> None:
            services.request_cancel(order_id=order.pk, requested_by="user:test")
            services.send_cancel_to_exchange(order_id=order.pk)  # the cancel task

        raised.extend(_in_thread(cancel_as_api_and_task_would))
        response = real_post(*args, **kwargs)
        if lose_the_answer:
            raise requests.exceptions.ReadTimeout("the answer is lost")
        return response

    adapter.client.session.post = post
    try:
        yield raised
    finally:
        del adapter.client.session.post


def venue_orders(sim: SimulatorServer) -> list[tuple[str, str]]:
    return [(o.client_order_id, o.status.value) for o in sim.exchange.all_orders(API_KEY, "BTCUSDT")]


@pytest.mark.django_db(transaction=True)
def test_a_request_reaching_the_venue_after_its_deadline_is_refused_there(sim, account, monkeypatch) -> None:
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

    monkeypatch.setattr(adapter.client.session, "post", slow_network)
    guard = SendGuard(deadline=time.time() + 1.0, refusal=lambda: None)
    with pytest.raises(OrderNotSent) as refused:
        adapter.place_order(orders_module._request_of(order), guard=guard)
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

    monkeypatch.setattr(adapter, "place_order", first_call_held_up)
    with pytest.raises(SubmissionPending):
        services.send_order_to_exchange(order_id=order.pk)

    assert venue_orders(sim) == [("slow-send-1", "FILLED")]
    order.refresh_from_db()
    assert order.status in (OrderStatus.FILLED, OrderStatus.SUBMITTED)
    assert OrderEvent.objects.filter(order=order, payload__code="send_window_closed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_reconciliation_leaves_alone_an_order_whose_send_is_in_flight(sim, account, monkeypatch) -> None:
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

    monkeypatch.setattr(adapter, "place_order", place_while_reconciliation_runs)
    services.send_order_to_exchange(order_id=order.pk)

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
    with cancel_while_the_order_post_is_on_the_wire(adapter, order) as cancel_raised:
        services.send_order_to_exchange(order_id=order.pk)
    # "Unknown order" while the send holds the lease is no answer: the cancel task retries.
    assert [type(e) for e in cancel_raised] == [SubmissionPending]
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


@pytest.mark.django_db(transaction=True)
def test_a_lookup_refused_after_an_unknown_outcome_does_not_reject_a_live_order(
    sim, account, sends_by_hand, monkeypatch
) -> None:
    """Attempt 1 placed the order but its answer was lost (unknown outcome). Attempt 2, after
    the lease, looks it up first; the look-up is refused (a 403 from the venue's WAF, or a
    second -1021: FatalVenueError). The order is on the venue, live: closing it REJECTED
    leaves a resting order nobody tracks or cancels."""
    order = new_order(account, "lookup-403")
    services.send_order_to_exchange(order_id=order.pk)  # it is on the venue now
    assert venue_orders(sim) == [("lookup-403", "NEW")]
    # As if attempt 1's answer had been lost: NEW, one attempt, its lease over.
    Order.objects.filter(pk=order.pk).update(
        status=OrderStatus.NEW, exchange_order_id="", submit_lease_until=timezone.now() - timedelta(seconds=1)
    )
    adapter = venue_factories.binance_adapter_for(account)

    def refused_lookup(**_kwargs: Any) -> Any:
        raise FatalVenueError("403 WAF limit", venue_code=None)

    monkeypatch.setattr(adapter, "get_order", refused_lookup)
    with contextlib.suppress(SubmissionPending):
        services.send_order_to_exchange(order_id=order.pk)
    order.refresh_from_db()
    assert venue_orders(sim) == [("lookup-403", "NEW")]  # live on the venue
    assert order.status != OrderStatus.REJECTED, "closed REJECTED while live on the venue"


@pytest.mark.django_db(transaction=True)
def test_a_cancel_that_raced_a_send_whose_answer_was_lost_is_not_forgotten(
    sim, account, sends_by_hand
) -> None:
    """The user cancels while the send is on the wire; the cancel reaches the venue first
    ("unknown order"). The send's request lands but its answer is lost (timeout), so no ack
    re-queues the cancel. While the send holds the lease, "unknown order" is no answer: the
    cancel task retries, and its retry after the lease cancels the order on the venue."""
    order = new_order(account, "cancel-lost-ack")
    adapter = venue_factories.binance_adapter_for(account)
    with (
        cancel_while_the_order_post_is_on_the_wire(adapter, order, lose_the_answer=True) as cancel_raised,
        pytest.raises(SubmissionPending),
    ):
        services.send_order_to_exchange(order_id=order.pk)
    assert [type(e) for e in cancel_raised] == [SubmissionPending]  # the cancel task will retry
    assert venue_orders(sim) == [("cancel-lost-ack", "NEW")]
    # The lease is over: the cancel task's retry.
    Order.objects.filter(pk=order.pk).update(submit_lease_until=timezone.now() - timedelta(seconds=1))
    order = services.send_cancel_to_exchange(order_id=order.pk)
    assert venue_orders(sim) == [("cancel-lost-ack", "CANCELED")]
    assert order.status == OrderStatus.CANCELED


@pytest.mark.django_db(transaction=True)
def test_no_venue_adapter_denial_does_not_close_an_order_another_worker_is_sending(
    sim, account, sends_by_hand, monkeypatch
) -> None:
    """A worker without an adapter for the account's mode (a misconfigured or half-deployed
    worker) sees `submit_attempts == 0` OUTSIDE any lock, then denies under the lock with
    `lease=None`, which `_holds_lease` treats as "holds it". Meanwhile a worker with the
    adapter claimed the order and is sending it: the order is closed REJECTED
    `no_venue_adapter` and the other worker's request lands: live on the venue, REJECTED here."""
    order = new_order(account, "no-adapter-race", order_type="LIMIT")
    main = threading.current_thread()
    real_adapter_for = venues.adapter_for

    def adapter_for(acc: Any) -> Any:
        if threading.current_thread() is main:
            raise ServiceUnavailable("No exchange adapter is configured for SIMULATED accounts.")
        return real_adapter_for(acc)

    monkeypatch.setattr(orders_module, "adapter_for", adapter_for)
    adapter = venue_factories.binance_adapter_for(account)
    real_place = adapter.place_order
    denied = threading.Event()

    def place_after_the_denial(request: Any, **kwargs: Any) -> Any:
        denied.wait(10)
        return real_place(request, **kwargs)

    monkeypatch.setattr(adapter, "place_order", place_after_the_denial)
    real_deny = orders_module._deny_unsent
    errors: list[BaseException] = []

    def deny_while_another_worker_sends(*args: Any, **kwargs: Any) -> Any:
        worker = threading.Thread(
            target=lambda: errors.extend(
                _in_thread(lambda: services.send_order_to_exchange(order_id=order.pk))
            )
        )
        worker.start()
        for _ in range(200):  # until the other worker has claimed the order (before its request)
            if Order.objects.filter(pk=order.pk, submit_attempts=1).exists():
                break
            time.sleep(0.02)
        try:
            return real_deny(*args, **kwargs)
        finally:
            denied.set()
            worker.join(20)

    monkeypatch.setattr(orders_module, "_deny_unsent", deny_while_another_worker_sends)
    services.send_order_to_exchange(order_id=order.pk)
    assert errors == []
    order.refresh_from_db()
    assert venue_orders(sim) == [("no-adapter-race", "NEW")]  # live on the venue
    assert order.status != OrderStatus.REJECTED, f"REJECTED {order.reject_reason} while live on the venue"


@pytest.mark.django_db(transaction=True)
def test_a_market_order_canceled_before_its_request_leaves_is_not_sent(
    sim, account, sends_by_hand, monkeypatch
) -> None:
    """The user cancels a MARKET order while its send waits in the adapter (ORDERS window up
    to 10 s, weight up to 5 s). The guard, asked after those waits, reads the kill switch but
    not the order: the request leaves and the order executes, though the cancel was asked
    before anything was sent. (Only the kill switch's own cancels are honoured, by way of
    the switch.)"""
    order = new_order(account, "mkt-cancel-before-send", order_type="MARKET")
    adapter = venue_factories.binance_adapter_for(account)
    real_place = adapter.place_order

    def user_cancels_while_the_send_waits(request: Any, **kwargs: Any) -> Any:
        def cancel_as_api_and_task_would() -> None:
            services.request_cancel(order_id=order.pk, requested_by="user:test")
            services.send_cancel_to_exchange(order_id=order.pk)

        assert [type(e) for e in _in_thread(cancel_as_api_and_task_would)] == [SubmissionPending]
        return real_place(request, **kwargs)  # the guard is asked in here, after the waits

    monkeypatch.setattr(adapter, "place_order", user_cancels_while_the_send_waits)
    services.send_order_to_exchange(order_id=order.pk)
    assert venue_orders(sim) == [], f"sent after its cancel was requested: {venue_orders(sim)}"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert order.events.get(to_status=OrderStatus.CANCELED).payload == {
        "source": "never_sent",
        "reason": "canceled_before_send",
    }
