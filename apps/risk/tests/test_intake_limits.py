"""Limits at order intake (`execution.services.submit_order` with risk's real gate): every order
accepted before is counted, whether the new one repeats its terms (no cached verdict) or
arrives at the same moment in another worker (the account's intake lock). Real PostgreSQL,
Redis and threads."""

from __future__ import annotations

import contextlib
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.domain import OrderStatus
from apps.execution import gates, services
from apps.execution.models import Order
from apps.execution.services.orders import RiskRejected
from apps.risk.models import RiskLimits

from .factories import limits

D = Decimal


def _submit(account, cid: str, price: str = "30000.00") -> None:
    services.submit_order(
        account=account, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=D("0.001"), price=D(price), client_order_id=cid,
    )  # fmt: skip


@pytest.mark.django_db
def test_identical_orders_within_the_approval_ttl_respect_max_open_orders(account) -> None:
    """The first order's approval would be cached for the TTL under its terms; copies with
    other client order ids must still count it."""
    limits(account, max_open_orders=1)
    outcomes = []
    for n in range(5):
        try:
            _submit(account, f"dup-terms-{n}")
            outcomes.append("accepted")
        except RiskRejected as exc:
            outcomes.append(exc.details["reasons"][0]["code"])

    assert outcomes == ["accepted"] + ["max_open_orders"] * 4
    assert Order.objects.filter(account=account, status=OrderStatus.NEW).count() == 1


@pytest.mark.django_db
def test_identical_buys_respect_the_position_limit(account) -> None:
    """Open buys reserve their quantity: the second identical buy would exceed the position."""
    limits(account, "BTCUSDT", max_position_size=D("0.0015"))  # one 0.001 buy fits, two do not
    _submit(account, "pos-1")
    with pytest.raises(RiskRejected) as info:
        _submit(account, "pos-2")
    assert [r["code"] for r in info.value.details["reasons"]] == ["max_position_size"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_orders_cannot_both_pass_max_open_orders(account, monkeypatch) -> None:
    """Two different orders of one account arrive at once (max_open_orders = 1). The first
    to be checked waits up to 1 s for the other to be checked too: without serialization both
    count 0 open orders and both are written; with it the second is checked only after the
    first has committed, and is refused."""
    limits(account, max_open_orders=1)
    real_admit = gates.admit
    checked = threading.Barrier(2)

    def admit_then_let_the_other_check(proposal: gates.OrderProposal) -> gates.Admission:
        admission = real_admit(proposal)
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(1)
        return admission

    monkeypatch.setattr(gates, "admit", admit_then_let_the_other_check)
    results: list[str] = []

    def place(n: int) -> None:
        try:
            _submit(account, f"conc-{n}", price=f"3000{n}.00")
            results.append("accepted")
        except RiskRejected as exc:
            results.append(exc.details["reasons"][0]["code"])
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(results) == ["accepted", "max_open_orders"]
    assert Order.objects.filter(account=account).count() == 1


def _intake_locks(account, cid: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        _submit(account, cid)
    return sum("pg_advisory_xact_lock" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_only_an_account_whose_limits_read_its_state_is_serialized(account) -> None:
    """The intake lock is taken only when the verdict read the account's open orders,
    position or exposure: with no limits, or order notional only, two intakes have nothing to
    race for, and intake of one account stays parallel."""
    assert _intake_locks(account, "free-1") == 0
    limits(account, max_order_notional=D("1000"))
    assert _intake_locks(account, "notional-1") == 0
    limits(account, "BTCUSDT", max_open_orders=10)
    assert _intake_locks(account, "counted-1") == 1


@pytest.mark.django_db
def test_a_state_reading_check_runs_once_under_the_lock(account) -> None:
    """Risk takes the intake lock itself, just before its state reads: the check is not run
    once to learn that it reads the account and again under the lock."""
    limits(account, max_open_orders=10)
    with CaptureQueriesContext(connection) as queries:
        _submit(account, "once-1")
    sql = [q["sql"] for q in queries.captured_queries]
    limit_reads = [i for i, q in enumerate(sql) if RiskLimits._meta.db_table in q]
    locks = [i for i, q in enumerate(sql) if "pg_advisory_xact_lock" in q]
    assert len(limit_reads) == 1
    assert len(locks) == 1
    assert limit_reads[0] < locks[0]  # the limits say the lock is needed; state reads follow it
