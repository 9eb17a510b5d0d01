"""A database error (a deadlock, a failover, a dropped connection) or an unexpected error
while the user stream applies messages must not end the account's stream, nor any other
account's, and must not lose the burst's status reports (gap recovery re-fetches only trades)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import OperationalError, connection

from apps.core.domain import OrderStatus
from apps.execution import user_stream
from apps.execution.models import Order
from apps.execution.services import venue_events
from apps.execution.user_stream import AccountStream, StreamSettings

from .factories import OrderFactory


class Health:
    """connected / disconnected / event / heartbeat / stopped: nothing to record here."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def stream(account_id: int = 1) -> AccountStream:
    return AccountStream(
        account_id=account_id,
        ws_api_url="ws://unused",
        api_key="k",
        api_secret="s",
        health=Health(),  # type: ignore[arg-type]
        stream_settings=StreamSettings(backoff_base=0.001, backoff_max=0.01),
    )


def canceled_event(order: Order) -> dict[str, Any]:
    return {"subscriptionId": 0, "event": {
        "e": "executionReport", "E": 1_767_225_600_000, "s": order.symbol, "c": order.client_order_id,
        "C": "", "S": "BUY", "x": "CANCELED", "X": "CANCELED", "i": 7, "l": "0", "L": "0", "Y": "0",
        "z": "0", "Z": "0", "t": -1, "T": 1_767_225_600_000,
    }}  # fmt: skip


def test_a_database_error_in_a_session_reconnects_instead_of_ending_the_stream(monkeypatch) -> None:
    sessions: list[int] = []

    async def session(self: AccountStream, stop: asyncio.Event) -> None:
        sessions.append(1)
        if len(sessions) == 1:
            raise OperationalError("deadlock detected")
        stop.set()

    monkeypatch.setattr(AccountStream, "_session", session)
    monkeypatch.setattr(user_stream.settings, "USER_STREAM_HEARTBEAT_SECONDS", 0.01, raising=False)

    asyncio.run(asyncio.wait_for(stream().run(asyncio.Event()), timeout=5))

    assert len(sessions) == 2


def test_one_accounts_failing_stream_does_not_stop_the_others(monkeypatch) -> None:
    """A bug met by one account's stream (any exception) is logged and that account
    reconnects; the other account keeps running."""
    sessions: dict[int, int] = {1: 0, 2: 0}

    async def session(self: AccountStream, stop: asyncio.Event) -> None:
        sessions[self.account_id] += 1
        if self.account_id == 1:
            raise RuntimeError("a bug met on account 1's messages")
        await asyncio.sleep(0.01)  # account 2 streams on while account 1 fails and reconnects
        if sessions[2] >= 3 and sessions[1] >= 2:
            stop.set()

    monkeypatch.setattr(AccountStream, "_session", session)
    monkeypatch.setattr(user_stream.settings, "USER_STREAM_HEARTBEAT_SECONDS", 0.01, raising=False)

    async def both() -> None:
        stop = asyncio.Event()
        await asyncio.gather(stream(1).run(stop), stream(2).run(stop))

    asyncio.run(asyncio.wait_for(both(), timeout=5))

    assert sessions[2] >= 3
    assert sessions[1] >= 2  # account 1 reconnected after its failure


@pytest.mark.django_db(transaction=True)
def test_a_burst_that_meets_a_database_error_is_applied_once_the_database_answers(monkeypatch) -> None:
    """The burst's messages were read from the socket: its CANCELED report must still land."""
    order = OrderFactory.create()
    calls: list[int] = []

    def flaky(*, account_id: int, reports: list[Any]) -> list[venue_events.ReportOutcome]:
        calls.append(len(reports))
        if len(calls) <= 2:
            raise OperationalError("the database system is shutting down")
        return venue_events.apply_execution_reports(account_id=account_id, reports=reports)

    monkeypatch.setattr(user_stream, "apply_execution_reports", flaky)

    asyncio.run(stream(order.account_id)._dispatch_burst([canceled_event(order)]))

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert calls == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_a_burst_on_a_connection_the_server_dropped_is_applied_on_a_new_one() -> None:
    """The worker thread's connection is terminated by the server (a failover, a restart)
    between two bursts; the next burst connects again instead of failing."""
    first, second = OrderFactory.create(), OrderFactory.create()
    first_account = stream(first.account_id)
    second_account = stream(second.account_id)
    backend_pids: list[int] = []

    def backend_pid() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pids.append(cursor.fetchone()[0])

    def terminate(pid: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connection.close()

    async def scenario() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        await first_account._dispatch_burst([canceled_event(first)])
        await asyncio.to_thread(backend_pid)
        with ThreadPoolExecutor(max_workers=1) as admin:  # another connection: the "server" side
            await asyncio.get_running_loop().run_in_executor(admin, terminate, backend_pids[0])
        await second_account._dispatch_burst([canceled_event(second)])

    asyncio.run(scenario())

    assert Order.objects.get(pk=first.pk).status == OrderStatus.CANCELED
    assert Order.objects.get(pk=second.pk).status == OrderStatus.CANCELED


@pytest.mark.django_db(transaction=True)
def test_a_report_the_books_refuse_costs_only_itself(monkeypatch) -> None:
    """A burst failing for another reason than the database (here a value the books refuse)
    would fail again as a whole: it is applied report by report, the bad one logged."""
    good, bad, later = (OrderFactory.create() for _ in range(3))
    account = good.account
    Order.objects.filter(pk__in=[bad.pk, later.pk]).update(account=account)
    real = venue_events.apply_execution_reports

    def refuses_bad(*, account_id: int, reports: list[Any]) -> list[venue_events.ReportOutcome]:
        if any(r.client_order_id == bad.client_order_id for r in reports):
            raise ArithmeticError("a value the books cannot take")
        return real(account_id=account_id, reports=reports)

    monkeypatch.setattr(user_stream, "apply_execution_reports", refuses_bad)
    bad.refresh_from_db()
    later.refresh_from_db()

    asyncio.run(
        stream(account.pk)._dispatch_burst([canceled_event(good), canceled_event(bad), canceled_event(later)])
    )

    statuses = dict(Order.objects.filter(pk__in=[good.pk, bad.pk, later.pk]).values_list("pk", "status"))
    assert statuses == {good.pk: "CANCELED", bad.pk: "SUBMITTED", later.pk: "CANCELED"}
