"""Bursts of execution reports and pages of venue trades, applied in batches, give the books
that applying them one at a time gives."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderStatus, Side
from apps.exchange.binance.events import ExecutionReport
from apps.exchange.domain import VenueTrade
from apps.execution.models import ExchangeAccount, Fill, Order, OrderEvent, OutboxEvent
from apps.execution.services import venue_events
from apps.execution.services.venue_events import (
    apply_execution_report,
    apply_execution_reports,
    apply_trades,
)

from .factories import AccountFactory, OrderFactory

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def execution_report(
    order: Order, kind: str, status: str, *, trade_id: int = -1, qty: str = "0", cumulative: Decimal
) -> ExecutionReport:
    q, price = Decimal(qty), Decimal("30000")
    return ExecutionReport(
        symbol=order.symbol,
        client_order_id=order.client_order_id,
        original_client_order_id="",
        side=Side.BUY,
        execution_type=kind,
        order_status=OrderStatus(status),
        reject_reason="NONE",
        exchange_order_id=f"venue-{order.client_order_id}",
        last_quantity=q,
        last_price=price,
        last_quote=q * price,
        cumulative_quantity=cumulative,
        cumulative_quote=cumulative * price,
        commission=Decimal("0.001") if kind == "TRADE" else Decimal(0),
        commission_asset="BNB",
        trade_id=trade_id,
        is_maker=False,
        transaction_time=T0,
    )


# A venue's story of one order (quantity 1): ack, trades of 0.25, a cancel or expiry — in any
# order, including a trade after the cancel (a late fill).
steps = st.lists(st.sampled_from(["ack", "trade", "trade", "trade", "cancel", "expire"]), max_size=6)


def story(order: Order, plan: list[str], first_trade_id: int) -> list[ExecutionReport]:
    reports, cumulative, trade_id = [], Decimal(0), first_trade_id
    for step in plan:
        if step == "ack":
            reports.append(execution_report(order, "NEW", "NEW", cumulative=cumulative))
        elif step == "trade" and cumulative < 1:
            cumulative += Decimal("0.25")
            status = "FILLED" if cumulative == 1 else "PARTIALLY_FILLED"
            reports.append(
                execution_report(order, "TRADE", status, trade_id=trade_id, qty="0.25", cumulative=cumulative)
            )
            trade_id += 1
        elif step in ("cancel", "expire"):
            status = "CANCELED" if step == "cancel" else "EXPIRED"
            reports.append(execution_report(order, status, status, cumulative=cumulative))
    return reports


def interleave(stories: list[list[ExecutionReport]], picks: list[int]) -> list[ExecutionReport]:
    queues = [list(s) for s in stories]
    merged = []
    for pick in picks:
        live = [q for q in queues if q]
        if not live:
            break
        merged.append(live[pick % len(live)].pop(0))
    return merged + [r for q in queues for r in q]


def books(account: ExchangeAccount) -> list[tuple[object, ...]]:
    orders = Order.objects.filter(account=account).order_by("client_order_id")
    return [
        (
            o.client_order_id.split(":")[-1],
            o.status,
            o.filled_quantity,
            o.version,
            o.fees,
            o.exchange_order_id.split(":")[-1],
            list(
                OrderEvent.objects.filter(order=o).values_list("kind", "from_status", "to_status", "payload")
            ),
        )
        for o in orders
    ]


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plans=st.lists(steps, min_size=1, max_size=3),
    start=st.sampled_from([OrderStatus.NEW, OrderStatus.SUBMITTED]),
    picks=st.lists(st.integers(0, 5), max_size=20),
    cuts=st.lists(st.integers(1, 20), max_size=3),
)
def test_a_burst_of_reports_gives_the_books_of_one_report_at_a_time(plans, start, picks, cuts) -> None:
    burst_account, single_account = AccountFactory.create(), AccountFactory.create()
    reports: dict[int, list[ExecutionReport]] = {}
    for account in (burst_account, single_account):
        orders = [
            OrderFactory.create(account=account, status=start, client_order_id=f"{account.pk}:o{i}")
            for i in range(len(plans))
        ]
        stories = [story(o, plan, 100 * i) for i, (o, plan) in enumerate(zip(orders, plans, strict=True))]
        reports[account.pk] = interleave(stories, picks)

    burst = reports[burst_account.pk]
    bounds = [0, *sorted({c % (len(burst) + 1) for c in cuts}), len(burst)]
    for a, b in itertools.pairwise(bounds):
        apply_execution_reports(account_id=burst_account.pk, reports=burst[a:b])
    for r in reports[single_account.pk]:
        apply_execution_report(account_id=single_account.pk, report=r)

    assert books(burst_account) == books(single_account)


@pytest.mark.django_db
def test_reports_of_unknown_orders_are_told_apart_and_the_others_applied() -> None:
    order = OrderFactory.create(quantity=Decimal("1"))
    stranger = OrderFactory.build(account=order.account, client_order_id="not-ours")
    burst = [
        execution_report(
            order, "TRADE", "PARTIALLY_FILLED", trade_id=1, qty="0.25", cumulative=Decimal("0.25")
        ),
        execution_report(stranger, "TRADE", "FILLED", trade_id=2, qty="1", cumulative=Decimal("1")),
        execution_report(
            order, "TRADE", "PARTIALLY_FILLED", trade_id=3, qty="0.25", cumulative=Decimal("0.75")
        ),
    ]

    outcomes = apply_execution_reports(account_id=order.account_id, reports=burst)

    assert [(o.applied_fill, o.unknown_order) for o in outcomes] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    # The venue says 0.75 after the third report, we hold 0.5: a trade is missing.
    assert [o.gap_detected for o in outcomes] == [False, False, True]
    order.refresh_from_db()
    assert order.filled_quantity == Decimal("0.5")


def venue_trade(order: Order, trade_id: int, qty: str = "0.001", *, by_client_id: bool = False) -> VenueTrade:
    q, price = Decimal(qty), Decimal("30000")
    return VenueTrade(
        symbol=order.symbol,
        trade_id=trade_id,
        exchange_order_id="" if by_client_id else order.exchange_order_id,
        client_order_id=order.client_order_id,
        side=Side.BUY,
        price=price,
        quantity=q,
        quote_quantity=q * price,
        commission=Decimal(0),
        commission_asset="",
        is_maker=True,
        executed_at=T0,
    )


@pytest.mark.django_db
def test_a_page_of_trades_is_applied_in_chunks_once(django_assert_max_num_queries) -> None:
    account = AccountFactory.create()
    orders = [
        OrderFactory.create(account=account, quantity=Decimal("1"), exchange_order_id=f"v{i}")
        for i in range(5)
    ]
    stranger = OrderFactory.build(account=account, exchange_order_id="v-unknown", client_order_id="unknown")
    page = [venue_trade(orders[k % 5], k, by_client_id=k % 7 == 0) for k in range(1, 451)]
    page.insert(100, venue_trade(stranger, 10_000))

    # 2 lookups + 3 chunks of at most 200 trades, each a handful of statements.
    with django_assert_max_num_queries(2 + 3 * 8):
        outcome = apply_trades(account_id=account.pk, trades=page)
    again = apply_trades(account_id=account.pk, trades=page)

    assert (outcome.applied, outcome.first_unknown_trade_id) == (450, 10_000)
    assert (again.applied, again.first_unknown_trade_id) == (0, 10_000)
    assert Fill.objects.filter(account=account).count() == 450
    assert (
        OutboxEvent.objects.filter(event_type="fill.recorded", payload__account_id=account.pk).count() == 450
    )
    for order in orders:
        order.refresh_from_db()
        assert order.filled_quantity == Decimal("0.090")
    assert venue_events.TRADE_CHUNK == 200


@pytest.mark.django_db
def test_a_trade_goes_to_the_order_of_its_own_symbol_when_venue_order_ids_collide() -> None:
    """Binance numbers orders per symbol: a BTCUSDT and an ETHUSDT order may both be order 7
    at the venue. A trade is booked on the order of its own symbol."""
    account = AccountFactory.create()
    btc = OrderFactory.create(account=account, symbol="BTCUSDT", quantity=Decimal("1"), exchange_order_id="7")
    eth = OrderFactory.create(account=account, symbol="ETHUSDT", quantity=Decimal("1"), exchange_order_id="7")
    trade = replace(venue_trade(eth, 1), client_order_id="")  # tied by the venue's order id alone

    outcome = apply_trades(account_id=account.pk, trades=[trade])

    assert outcome.applied == 1
    (fill,) = Fill.objects.filter(account=account)
    assert (fill.order_id, fill.symbol) == (eth.pk, "ETHUSDT")
    btc.refresh_from_db()
    assert btc.filled_quantity == 0
