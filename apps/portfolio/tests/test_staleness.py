"""Acceptance: stale data is marked stale (time travel through `now=`) and fresh again after a
new mark; reconciliation age counts too; never reconciled is stale; so is an account whose
events wait in the outbox behind a failure or for too long."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.execution.models import ExchangeAccount, OutboxEvent
from apps.portfolio import selectors, services

from .factories import T0, fill, minutes, order_for, reconciled, relay


@pytest.fixture
def holding(account):
    """Account holding 1 BTC bought at 30000; BTCUSDT marked 31000 and reconciled at T0."""
    fill(order_for(account, "BUY", "1"), "1", "30000", executed_at=T0)
    relay()
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=T0, source="candle")
    reconciled(account, T0)
    return account


def position_freshness(account, now):
    (view,), overall = selectors.positions(account_ids=[account.pk], now=now)
    return view, overall


@pytest.mark.django_db
def test_fresh_then_stale_as_time_passes_then_fresh_after_a_new_mark_and_reconciliation(holding) -> None:
    view, overall = position_freshness(holding, T0 + minutes(1))
    assert (view.freshness.is_stale, view.freshness.data_as_of) == (False, T0)
    assert (overall.is_stale, overall.data_as_of, overall.stale_reasons) == (False, T0, ())
    assert view.unrealized_pnl == Decimal("1000")

    view, overall = position_freshness(holding, T0 + minutes(6))  # both thresholds are 5 min
    assert view.freshness.is_stale
    assert overall.is_stale
    assert set(overall.stale_reasons) == {"mark_old:BTCUSDT", f"reconciliation_old:account-{holding.pk}"}
    assert overall.data_as_of == T0

    # A new mark alone is not enough: the books were last confirmed too long ago.
    services.record_mark(symbol="BTCUSDT", price=Decimal("32000"), as_of=T0 + minutes(6), source="candle")
    view, overall = position_freshness(holding, T0 + minutes(6))
    assert overall.stale_reasons == (f"reconciliation_old:account-{holding.pk}",)
    assert view.unrealized_pnl == Decimal("2000")
    assert view.freshness.data_as_of == T0  # the oldest input: the reconciliation

    reconciled(holding, T0 + minutes(6))
    view, overall = position_freshness(holding, T0 + minutes(7))
    assert (overall.is_stale, overall.data_as_of) == (False, T0 + minutes(6))
    assert not view.freshness.is_stale


@pytest.mark.django_db
def test_old_mark_alone_makes_it_stale(holding) -> None:
    reconciled(holding, T0 + minutes(10))
    _, overall = position_freshness(holding, T0 + minutes(10))
    assert overall.stale_reasons == ("mark_old:BTCUSDT",)
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=T0 + minutes(10), source="ticker")
    _, overall = position_freshness(holding, T0 + minutes(10))
    assert not overall.is_stale


@pytest.mark.django_db
def test_thresholds_come_from_settings(holding) -> None:
    with override_settings(PORTFOLIO_MARK_MAX_AGE_SECONDS=30, PORTFOLIO_RECONCILIATION_MAX_AGE_SECONDS=3600):
        assert position_freshness(holding, T0 + minutes(0.4))[1].is_stale is False
        assert position_freshness(holding, T0 + minutes(0.6))[1].stale_reasons == ("mark_old:BTCUSDT",)


@pytest.mark.django_db
def test_never_reconciled_and_missing_mark_are_stale(account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000", executed_at=T0)
    relay()

    (view,), overall = selectors.positions(account_ids=[account.pk], now=T0)

    assert view.unrealized_pnl is None  # unknown without a mark, never guessed
    assert set(overall.stale_reasons) == {"mark_missing:BTCUSDT", f"never_reconciled:account-{account.pk}"}
    assert overall.data_as_of is None


@pytest.mark.django_db
def test_a_flat_position_needs_no_mark(account) -> None:
    order = order_for(account, "BUY", "1")
    fill(order, "1", "30000", executed_at=T0)
    fill(order_for(account, "SELL", "1"), "1", "30500", executed_at=T0)
    relay()
    reconciled(account, T0)

    (view,), overall = selectors.positions(account_ids=[account.pk], now=T0 + minutes(1))

    assert (view.quantity, view.realized_pnl, view.unrealized_pnl) == (0, Decimal("500"), 0)
    assert not overall.is_stale


@pytest.mark.django_db
def test_balances_freshness_follows_reconciliation(account) -> None:
    reconciled(account, T0)
    assert selectors.balances(account_ids=[account.pk], now=T0 + minutes(4))[1].is_stale is False
    stale = selectors.balances(account_ids=[account.pk], now=T0 + minutes(6))[1]
    assert stale.stale_reasons == (f"reconciliation_old:account-{account.pk}",)


def created_at(account: ExchangeAccount, at: datetime) -> None:
    """Date the account's undelivered events as if written at `at` (the tests' clock is `now=`)."""
    OutboxEvent.objects.filter(aggregate_id=str(account.pk), published_at__isnull=True).update(created_at=at)


@pytest.mark.django_db
def test_positions_behind_a_failing_event_are_stale_even_after_a_reconciliation(account) -> None:
    """A fill of a symbol whose instrument is not synced fails in portfolio (UnknownInstrument)
    and is retried with backoff; the account's later events wait behind it. A sell executed
    meanwhile is missing from the position, so a later successful reconciliation and a fresh
    mark must not make the position, or the exposure risk reads, look fresh."""
    fill(order_for(account, "BUY", "1"), "1", "30000", executed_at=T0)
    relay()
    fill(order_for(account, "BUY", "10", symbol="XRPUSDT"), "10", "1", executed_at=T0 + minutes(1))
    created_at(account, T0 + minutes(1))
    fill(order_for(account, "SELL", "1"), "1", "31000", executed_at=T0 + minutes(2))
    relay()
    assert OutboxEvent.objects.filter(published_at__isnull=True, attempts=1).count() == 1
    reconciled(account, T0 + minutes(3))
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=T0 + minutes(3), source="candle")

    now = T0 + minutes(4)
    (view,), overall = selectors.positions(account_ids=[account.pk], symbol="BTCUSDT", now=now)
    exposure = selectors.total_exposure(account_id=account.pk, now=now)

    assert view.quantity == Decimal("1")  # the sell is not in it
    reason = f"events_pending:account-{account.pk}"
    assert (overall.is_stale, overall.stale_reasons, overall.data_as_of) == (True, (reason,), T0 + minutes(1))
    assert view.freshness.is_stale
    assert exposure.gross == Decimal("31000")
    assert (exposure.freshness.is_stale, exposure.freshness.stale_reasons) == (True, (reason,))
    assert selectors.balances(account_ids=[account.pk], now=now)[1].stale_reasons == (reason,)


@pytest.mark.django_db
def test_a_young_pending_event_only_caps_data_as_of_and_a_late_one_makes_it_stale(holding) -> None:
    """The relay's normal lag (an event written, not yet delivered, never failed) is not
    stale, but the answer is confirmed only up to that event; once it is older than
    PORTFOLIO_EVENT_LAG_MAX_SECONDS (10 s) the answer is stale."""
    fill(order_for(holding, "SELL", "1"), "1", "31000", executed_at=T0 + minutes(1))  # not relayed
    created_at(holding, T0 + minutes(1))
    reconciled(holding, T0 + minutes(2))
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=T0 + minutes(2), source="candle")

    young = T0 + minutes(1) + timedelta(seconds=10)
    _, overall = position_freshness(holding, young)
    assert (overall.is_stale, overall.data_as_of) == (False, T0 + minutes(1))

    _, overall = position_freshness(holding, young + timedelta(seconds=1))
    assert overall.stale_reasons == (f"events_pending:account-{holding.pk}",)
    with override_settings(PORTFOLIO_EVENT_LAG_MAX_SECONDS=60):
        assert position_freshness(holding, young + timedelta(seconds=1))[1].is_stale is False

    relay()  # delivered: the position is flat and confirmed up to the reconciliation
    view, overall = position_freshness(holding, young + timedelta(seconds=1))
    assert (view.quantity, overall.is_stale, overall.data_as_of) == (0, False, T0 + minutes(2))
