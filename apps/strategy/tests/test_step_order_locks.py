"""A strategy step cancels several orders in ONE transaction, in the order its runtime emits
the cancels; a fill burst (`apply_fills`) locks its orders in id order. The step therefore
locks all its open orders first, in id order, so that the two can never wait for each other
in a cycle (a PostgreSQL deadlock that killed the fill burst)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from apps.core.domain import OrderStatus
from apps.execution import services
from apps.execution.models import Fill, Order
from apps.execution.services import FillReport
from apps.execution.tests.factories import AccountFactory, OrderFactory
from apps.strategy.engine import step as step_module
from apps.strategy.engine.state import EngineState, TrackedOrder
from apps.strategy.runtime.types import CancelIntent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(order: Order, trade_id: int, qty: str = "0.5") -> FillReport:
    q, price = Decimal(qty), Decimal("30000")
    return FillReport(
        order_id=order.pk, exchange_fill_id=trade_id, price=price, quantity=q, quote_quantity=q * price,
        executed_at=T0,
    )  # fmt: skip


def engine_step(account_id: int, strategy_id: int, orders: list[Order]) -> step_module._Step:
    """The step's send path without a runtime: what `_Step` holds once it is built."""
    engine_step = object.__new__(step_module._Step)
    engine_step.strategy = SimpleNamespace(account_id=account_id, pk=strategy_id)  # type: ignore[assignment]
    engine_step.result = step_module.StepResult(strategy_id)
    engine_step.engine = EngineState(orders={o.client_order_id: TrackedOrder() for o in orders})
    engine_step.intents_sent = 0
    return engine_step


@pytest.mark.django_db(transaction=True)
def test_a_step_cancelling_in_descending_id_order_does_not_deadlock_with_a_fill_burst(monkeypatch) -> None:
    """Two CancelIntents, the higher order id first (a grid shifting twice in one step), in
    the step's transaction; a fill burst of both orders starts between the two cancels."""
    account = AccountFactory.create()
    low, high = (OrderFactory.create(account=account, strategy_id=7) for _ in range(2))
    assert low.pk < high.pk
    first_cancel_done, burst_started = threading.Event(), threading.Event()
    real_request_cancel = services.request_cancel
    cancelled: list[int] = []

    def request_cancel(*, order_id: int, requested_by: str) -> Order:
        order = real_request_cancel(order_id=order_id, requested_by=requested_by)
        cancelled.append(order_id)
        if len(cancelled) == 1:
            first_cancel_done.set()
            burst_started.wait(5)
            time.sleep(0.3)  # the burst is now waiting for a lock (before the fix: holding `low`)
        return order

    monkeypatch.setattr(step_module.execution_services, "request_cancel", request_cancel)
    monkeypatch.setattr("apps.execution.services.orders._dispatch_cancel", lambda order_id: None)
    errors: list[str] = []

    def strategy_step() -> None:
        try:
            with transaction.atomic():  # run_strategy_step's transaction
                engine_step(account.pk, 7, [low, high])._send(
                    [
                        CancelIntent(client_order_id=high.client_order_id, tag="grid:shift:4"),
                        CancelIntent(client_order_id=low.client_order_id, tag="grid:shift:0"),
                    ]
                )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(f"step: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def fill_burst() -> None:
        try:
            first_cancel_done.wait(5)
            burst_started.set()
            services.apply_fills(reports=[fill(low, 1), fill(high, 2)])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(f"apply_fills: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=strategy_step), threading.Thread(target=fill_burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert cancelled == [high.pk, low.pk]  # the intents' order is kept
    assert Fill.objects.filter(order__in=[low, high]).count() == 2
    for order in (low, high):
        order.refresh_from_db()
        assert order.status == OrderStatus.CANCEL_REQUESTED
        assert order.filled_quantity == Decimal("0.5")


@pytest.mark.django_db(transaction=True)
def test_lock_open_orders_takes_the_strategys_open_orders_and_the_named_ones() -> None:
    account = AccountFactory.create()
    own = OrderFactory.create(account=account, strategy_id=7)
    named = OrderFactory.create(account=account)
    OrderFactory.create(account=account, strategy_id=7, status=OrderStatus.FILLED)
    OrderFactory.create(account=account, strategy_id=8)
    OrderFactory.create(strategy_id=7)  # another account

    with transaction.atomic():
        locked = services.lock_open_orders(
            account_id=account.pk, client_order_ids=[named.client_order_id], strategy_id=7
        )

    assert locked == sorted([own.pk, named.pk])


def test_lock_open_orders_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError):
        services.lock_open_orders(account_id=1, strategy_id=7)
