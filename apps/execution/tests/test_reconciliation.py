"""Reconciliation against the simulator: the books end up equal to the venue's ledger."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.execution import services, venue_factories
from apps.execution.models import Fill, Order, OrderEvent, ReconciliationCursor, ReconciliationRun
from apps.execution.services.orders import _request_of

from .live import API_KEY, books_match_ledger, fast_stream, submit, wait_for


def age(order: Order, seconds: int) -> None:
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(transaction=True)
def test_stream_down_while_50_fills_happen_one_run_repairs_them_all(sim, account) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.001"))
    order = submit(account, "rec-50", "BUY", "0.05", "29900.00")  # no stream is running
    for step in range(50):
        sim.set_price("BTCUSDT", Decimal("29900.00") - Decimal(step) / 100)
    assert len(sim.trades(API_KEY)) == 50
    assert Fill.objects.count() == 0

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.errors
    assert run.fills_repaired == 50
    assert run.weight_used > 0
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal("0.05"))
    assert books_match_ledger(account, sim)
    again = services.reconcile_account(account_id=account.pk, trigger="test")
    assert again.fills_repaired == 0  # the cursor moved; nothing is applied twice


@pytest.mark.django_db(transaction=True)
def test_crash_after_new_before_the_answer_is_found_by_client_order_id(sim, account) -> None:
    order = services.submit_order(
        account=account,
        symbol="BTCUSDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.01"),
        price=Decimal("29000.00"),
        client_order_id="rec-crash",
    ).order
    # The worker sent it and died before recording the answer.
    venue_factories.binance_adapter_for(account).place_order(_request_of(order))
    Order.objects.filter(pk=order.pk).update(submit_attempts=1)
    age(order, 30)

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    order.refresh_from_db()
    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.errors
    assert order.status == OrderStatus.SUBMITTED
    assert order.exchange_order_id


@pytest.mark.django_db(transaction=True)
def test_new_order_the_venue_never_saw_is_rejected_after_the_window(sim, account) -> None:
    order = services.submit_order(
        account=account,
        symbol="BTCUSDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.01"),
        price=Decimal("29000.00"),
        client_order_id="rec-lost",
    ).order
    Order.objects.filter(pk=order.pk).update(submit_attempts=1)
    age(order, 3600)

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    order.refresh_from_db()
    assert (order.status, order.reject_reason) == (OrderStatus.REJECTED, "lost_submission")
    assert run.orders_resolved == 1


@pytest.mark.django_db(transaction=True)
def test_order_canceled_directly_on_the_exchange_becomes_canceled(sim, account) -> None:
    order = submit(account, "rec-manual", "BUY", "0.01", "29000.00")
    venue_factories.binance_adapter_for(account).cancel_order(symbol="BTCUSDT", client_order_id="rec-manual")

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert run.orders_resolved == 1
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.RECONCILED).exists()


@pytest.mark.django_db(transaction=True)
def test_order_placed_by_hand_on_the_venue_is_recorded_as_external(sim, account) -> None:
    submit(account, "ours", "BUY", "0.01", "29000.00")
    venue = venue_factories.binance_adapter_for(account)
    hand = Order(symbol="BTCUSDT", side="SELL", order_type="LIMIT", quantity=Decimal("0.02"))
    hand.price, hand.client_order_id, hand.time_in_force = Decimal("31000.00"), "by-hand-1", "GTC"
    venue.place_order(_request_of(hand))

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    external = Order.objects.get(account=account, client_order_id="by-hand-1")
    assert external.is_external
    assert (external.side, external.quantity, external.price) == (
        "SELL",
        Decimal("0.02"),
        Decimal("31000.00"),
    )
    assert run.external_orders == 1


@pytest.mark.django_db(transaction=True)
def test_run_concurrent_with_the_live_stream_never_duplicates_a_fill(sim, account) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.002"))
    with fast_stream(account):
        order = submit(account, "rec-race", "BUY", "0.04", "29900.00")
        done = threading.Event()

        def reconcile_repeatedly() -> None:
            try:
                while not done.is_set():
                    services.reconcile_account(account_id=account.pk, trigger="test")
            finally:
                connection.close()

        reconciler = threading.Thread(target=reconcile_repeatedly)
        reconciler.start()
        for step in range(20):
            sim.set_price("BTCUSDT", Decimal("29900.00") - Decimal(step) / 100)
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)
        done.set()
        reconciler.join(30)

    assert Fill.objects.filter(order=order).count() == 20
    assert books_match_ledger(account, sim)


@pytest.mark.django_db(transaction=True)
def test_overlapping_triggers_never_run_two_reconciliations_of_one_account(sim, account) -> None:
    submit(account, "rec-lock", "BUY", "0.01", "29000.00")
    inside, release = threading.Event(), threading.Event()
    statuses: list[str] = []

    def slow_progress(message: str) -> None:
        inside.set()
        release.wait(10)

    def first() -> None:
        try:
            statuses.append(services.reconcile_account(account_id=account.pk, progress=slow_progress).status)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    second = services.reconcile_account(account_id=account.pk, trigger="beat")
    release.set()
    thread.join(30)

    assert second.status == ReconciliationRun.Status.SKIPPED
    assert statuses == [ReconciliationRun.Status.SUCCEEDED]


@pytest.mark.django_db(transaction=True)
def test_reconcile_command_reports_progress_and_summary(sim, account, capsys) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.01"))
    submit(account, "rec-cmd", "BUY", "0.02", "29900.00")
    sim.set_price("BTCUSDT", Decimal("29900.00"))
    sim.set_price("BTCUSDT", Decimal("29890.00"))

    call_command("reconcile", "--account", str(account.pk))

    out = capsys.readouterr().out
    assert "[1/1] BTCUSDT" in out
    assert "succeeded: 1 orders checked, 2 fills repaired" in out
    assert ReconciliationCursor.objects.get(account=account, symbol="BTCUSDT").last_trade_id == max(
        int(t["id"]) for t in sim.trades(API_KEY)
    )


@pytest.mark.django_db(transaction=True)
def test_a_cancel_whose_task_was_lost_is_sent_again_by_the_next_run(
    sim, account, django_capture_on_commit_callbacks
) -> None:
    order = submit(account, "rec-lost-cancel", "BUY", "0.01", "29000.00")
    with django_capture_on_commit_callbacks(execute=False):  # the queued cancel task is lost
        services.request_cancel(order_id=order.pk, requested_by="test")
    services.reconcile_account(account_id=account.pk, trigger="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCEL_REQUESTED  # within the grace period: left alone
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(seconds=60))

    run = services.reconcile_account(account_id=account.pk, trigger="test")

    order.refresh_from_db()
    assert run.details.get("cancels_resent") == 1, run.errors
    assert order.status == OrderStatus.CANCELED
    assert [o.status.value for o in sim.exchange.all_orders(API_KEY, "BTCUSDT")] == ["CANCELED"]
