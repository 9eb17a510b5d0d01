"""Concurrent consumers on one position, in real concurrent transactions (threads, each with
its own database connection): no update is lost, versions form one sequence."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection

from apps.execution.services.outbox import OutboxMessage
from apps.execution.tests.factories import AccountFactory
from apps.portfolio import services
from apps.portfolio.accounting import LotState, apply_trade
from apps.portfolio.models import Balance, Position, PositionUpdate, ProcessedEvent

from .factories import T0, balance_message, fill_message, instruments, minutes

THREADS = 8
PER_THREAD = 6


def run_together(jobs: Sequence[Callable[[], None]]) -> list[Exception]:
    barrier = threading.Barrier(len(jobs))
    errors: list[Exception] = []

    def worker(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_on_one_position_never_lose_an_update() -> None:
    instruments()
    account = AccountFactory.create()
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    batches = [
        [
            fill_message(
                account_id=account.pk,
                side=rng.choice(["BUY", "SELL"]),
                qty=str(Decimal(rng.randint(1, 500)) / 1000),
                price=str(Decimal(rng.randint(2_000_000, 4_000_000)) / 100),
                commission="0.1",
                asset="USDT",
                executed_at=T0 + minutes(rng.randint(0, 60)),
            )
            for _ in range(PER_THREAD)
        ]
        for _ in range(THREADS)
    ]

    def consumer(batch: list[OutboxMessage]) -> Callable[[], None]:
        def consume() -> None:
            for message in batch:
                services.handle_fill_recorded(message)

        return consume

    errors = run_together([consumer(batch) for batch in batches])

    assert errors == []
    messages = [m for batch in batches for m in batch]
    position = Position.objects.get(account=account, symbol="BTCUSDT")
    signed = sum(
        (Decimal(m.payload["quantity"]) * (1 if m.payload["side"] == "BUY" else -1) for m in messages),
        Decimal(0),
    )
    assert position.quantity == signed
    assert position.version == len(messages)
    assert position.fees_paid == Decimal("0.1") * len(messages)
    updates = list(PositionUpdate.objects.filter(position=position).order_by("version_after"))
    assert [u.version_after for u in updates] == list(range(1, len(messages) + 1))
    # Each update started from the state the previous one left: replaying them in version
    # order through the pure accounting reproduces every recorded step.
    state = LotState()
    for update in updates:
        state = apply_trade(
            state, side=update.side, quantity=update.quantity, quote_quantity=update.quote_quantity
        ).state
        assert (state.quantity, state.cost_basis) == (update.quantity_after, update.cost_basis_after)
    assert (state.realized_pnl, state.cost_basis) == (position.realized_pnl, position.cost_basis)
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert usdt.version == len(messages)
    assert Balance.objects.get(account=account, asset="BTC").derived_total == signed


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_concurrently_is_applied_once() -> None:
    instruments()
    account = AccountFactory.create()
    message = fill_message(account_id=account.pk, side="BUY", qty="1", price="30000")

    errors = run_together([partial(services.handle_fill_recorded, message) for _ in range(6)])

    assert errors == []
    position = Position.objects.get(account=account)
    assert (position.quantity, position.version) == (Decimal("1"), 1)
    assert ProcessedEvent.objects.filter(event_id=message.id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_balance_reports_and_fills_interleave_without_deadlock_or_loss() -> None:
    instruments()
    account = AccountFactory.create()
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk, event_time=T0, balances={"USDT": ("100000", "0"), "BTC": ("0", "0")}
        )
    )
    fills = [
        fill_message(
            account_id=account.pk, side="BUY", qty="0.01", price="30000", executed_at=T0 + minutes(1)
        )
        for _ in range(20)
    ]
    reports = [
        balance_message(
            account_id=account.pk, event_time=T0, balances={"USDT": ("100000", "0"), "BTC": ("0", "0")}
        )
        for _ in range(5)
    ]
    jobs = [partial(services.handle_fill_recorded, m) for m in fills]
    jobs += [partial(services.handle_balance_reported, m) for m in reports]

    errors = run_together(jobs)

    assert errors == []
    assert Balance.objects.get(account=account, asset="USDT").derived_total == Decimal("100000") - 20 * 300
    assert Balance.objects.get(account=account, asset="BTC").derived_total == Decimal("0.2")
    assert Position.objects.get(account=account).version == 20
