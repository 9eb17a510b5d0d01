"""Callers of `apply_fills` that can replay a batch (stream bursts, reconciliation's trade
chunks) apply it once more when PostgreSQL picks it as a deadlock victim: fills are
deduplicated on the trade id, so the replay books each trade once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction
from psycopg import errors as pg_errors

from apps.core.domain import Side
from apps.exchange.binance.events import ExecutionReport
from apps.exchange.domain import VenueTrade
from apps.execution import services
from apps.execution.models import Fill, Order
from apps.execution.services import venue_events

from .factories import AccountFactory, OrderFactory
from .test_venue_events_batch import execution_report

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trade(order: Order, trade_id: int, qty: str = "0.5") -> VenueTrade:
    q, price = Decimal(qty), Decimal("30000")
    return VenueTrade(
        symbol=order.symbol, trade_id=trade_id, exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        side=Side.BUY, price=price, quantity=q, quote_quantity=q * price, commission=Decimal(0),
        commission_asset="BNB", is_maker=False, executed_at=T0,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_trade_chunk_chosen_as_deadlock_victim_is_applied_once_more(monkeypatch, caplog) -> None:
    """A real deadlock: a transaction that locks two orders one by one, the higher id first
    (what the id-order rule forbids), against a myTrades chunk of both orders."""
    account = AccountFactory.create()
    low, high = (OrderFactory.create(account=account, exchange_order_id=f"v{n}") for n in range(2))
    monkeypatch.setattr("apps.execution.services.orders._dispatch_cancel", lambda order_id: None)
    holds_high, chunk_started = threading.Event(), threading.Event()
    errors: list[str] = []
    outcome: list[venue_events.TradesOutcome] = []

    def rule_breaker() -> None:
        try:
            with transaction.atomic():
                services.request_cancel(order_id=high.pk, requested_by="test")
                holds_high.set()
                chunk_started.wait(5)
                time.sleep(0.3)  # the chunk holds `low` and waits for `high`
                services.request_cancel(order_id=low.pk, requested_by="test")
                time.sleep(1.5)  # past deadlock_timeout (1 s): the chunk, waiting longer, is the victim
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(f"rule breaker: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def chunk() -> None:
        try:
            holds_high.wait(5)
            chunk_started.set()
            outcome.append(
                venue_events.apply_trades(account_id=account.pk, trades=[trade(low, 1), trade(high, 2)])
            )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(f"apply_trades: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=rule_breaker), threading.Thread(target=chunk)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []  # the chunk lost the deadlock, was applied again, and the other one went on
    assert "applying it once more" in caplog.text  # a deadlock did happen, and the chunk was its victim
    assert outcome[0].applied == 2
    assert Fill.objects.filter(order__in=[low, high]).count() == 2


def deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = pg_errors.DeadlockDetected("deadlock detected")
    return error


@pytest.mark.django_db(transaction=True)
def test_a_burst_whose_statuses_lose_a_deadlock_is_applied_once_more(monkeypatch) -> None:
    order = OrderFactory.create()
    real = venue_events._apply_statuses
    calls: list[int] = []

    def statuses(order_ids: dict[str, int], known: list[ExecutionReport]) -> dict[int, bool]:
        calls.append(1)
        if len(calls) == 1:
            raise deadlock()
        return real(order_ids, known)

    monkeypatch.setattr(venue_events, "_apply_statuses", statuses)
    report = execution_report(order, "CANCELED", "CANCELED", cumulative=Decimal(0))

    venue_events.apply_execution_reports(account_id=order.account_id, reports=[report])

    order.refresh_from_db()
    assert order.status == "CANCELED"
    assert len(calls) == 2


def test_only_a_deadlock_is_retried(monkeypatch) -> None:
    calls: list[int] = []

    def fails() -> None:
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        venue_events.retry_once_on_deadlock(fails)
    assert calls == [1]
