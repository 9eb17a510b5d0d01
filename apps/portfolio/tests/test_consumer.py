"""The outbox consumers: positions from fills (fees in every asset), balances and drift,
idempotency, retries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.exchange.domain import VenueBalance, VenueBalances
from apps.exchange.models import Instrument
from apps.execution.models import OutboxEvent, ReconciliationRun
from apps.execution.services import reconciliation as reconciliation_module
from apps.execution.services.reconciliation import _balance_comparators, reconcile_account
from apps.execution.tests.factories import AccountFactory, RecordingVenue, btcusdt
from apps.portfolio import selectors, services
from apps.portfolio.models import Balance, BalanceFlow, Position, PositionUpdate, ProcessedEvent
from apps.portfolio.services.balances import compare_with_venue

from .factories import T0, balance_message, fill, fill_message, minutes, order_for, reconciled, relay


def position(account, symbol: str = "BTCUSDT") -> Position:
    return Position.objects.get(account=account, symbol=symbol)


def balance(account, asset: str) -> Balance:
    return Balance.objects.get(account=account, asset=asset)


@pytest.mark.django_db
def test_a_recorded_fill_reaches_the_position_through_the_outbox(account) -> None:
    buy = order_for(account, "BUY", "1")
    fill(buy, "0.4", "30000", commission="12", asset="USDT")
    fill(buy, "0.6", "31000", commission="18.6", asset="USDT")

    assert not Position.objects.exists()  # nothing until the relay delivers
    assert relay() == 2

    pos = position(account)
    assert (pos.base_asset, pos.quote_asset) == ("BTC", "USDT")
    assert pos.quantity == Decimal("1")
    assert pos.average_price == Decimal("30600")
    assert pos.fees_paid == Decimal("30.6")
    assert pos.version == 2
    assert pos.fills_count == 2
    assert [u.version_after for u in pos.updates.all()] == [1, 2]
    assert ProcessedEvent.objects.filter(consumer="portfolio").count() == 2


@pytest.mark.django_db
def test_fee_in_the_base_asset_leaves_the_position_as_it_leaves_the_wallet(account) -> None:
    """Buy 1 BTC paying 0.001 BTC: the venue delivers 0.999 BTC, so the position holds 0.999
    (it used to hold 1, a phantom 0.001 that could never be sold). The fee is valued at the
    fill price, as a sale of 0.001 BTC at 30000 whose proceeds are the commission: the
    average price stays the price paid, realized PnL stays gross, and net PnL is the cash
    result (the fee counted once)."""
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="0.001", asset="BTC")
    relay()

    update = PositionUpdate.objects.get()
    assert (update.fee_rate_source, update.fee_rate, update.fee_quote) == (
        PositionUpdate.FeeSource.BASE_AT_FILL_PRICE,
        Decimal("30000"),
        Decimal("30"),
    )
    pos = position(account)
    assert (pos.quantity, update.quantity_after) == (Decimal("0.999"), Decimal("0.999"))
    assert pos.quantity == balance(account, "BTC").derived_total
    assert (pos.cost_basis, pos.average_price, pos.realized_pnl) == (Decimal("29970"), Decimal("30000"), 0)
    assert pos.fees_paid == Decimal("30")
    services.record_mark(symbol="BTCUSDT", price=Decimal("30000"), as_of=T0, source="test")
    (view,), _ = selectors.positions(account_ids=[account.pk], now=T0)
    # Paid 30000 USDT for 0.999 BTC worth 29970 at the mark: -30, the fee, once.
    assert (view.unrealized_pnl, view.net_pnl) == (0, Decimal("-30"))


@pytest.mark.django_db
def test_fee_in_the_base_asset_on_a_sell_takes_the_fee_from_the_position_too(account) -> None:
    """Selling 0.5 BTC with a 0.0005 BTC commission takes 0.5005 BTC from the wallet and the
    position; the fee's BTC realizes against the average cost like the rest."""
    fill(order_for(account, "BUY", "1"), "1", "30000", executed_at=T0)
    fill(
        order_for(account, "SELL", "0.5"),
        "0.5",
        "32000",
        commission="0.0005",
        asset="BTC",
        executed_at=T0 + minutes(1),
    )
    relay()

    pos = position(account)
    assert pos.quantity == Decimal("0.4995") == balance(account, "BTC").derived_total
    assert (pos.cost_basis, pos.average_price) == (Decimal("14985"), Decimal("30000"))
    # Gross: 0.5005 BTC sold at 32000 (0.0005 of it paid as the fee) against 30000 each.
    assert pos.realized_pnl == Decimal("1001")
    assert pos.fees_paid == Decimal("16")
    services.record_mark(symbol="BTCUSDT", price=Decimal("32000"), as_of=T0 + minutes(1), source="test")
    (view,), _ = selectors.positions(account_ids=[account.pk], now=T0 + minutes(1))
    # Cash: -30000 + 16000, plus 0.4995 BTC at 32000 = 15984: net +1984.
    assert view.net_pnl == Decimal("1984")


@pytest.mark.django_db
def test_selling_everything_held_after_a_base_asset_fee_leaves_the_position_flat(account) -> None:
    """Review C, finding 2: buy 1 BTC paying 0.001 BTC, then sell the 0.999 BTC the wallet holds.
    The position used to keep 0.001 BTC forever (never sellable, needing a mark, counted as
    exposure by risk) and net PnL counted the fee twice (970 instead of 969)."""
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="0.001", asset="BTC", executed_at=T0)
    fill(order_for(account, "SELL", "0.999"), "0.999", "31000", executed_at=T0 + minutes(1))
    relay()
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=T0 + minutes(1), source="candle")
    reconciled(account, T0 + minutes(1))

    assert balance(account, "BTC").derived_total == 0
    pos = position(account)
    report = selectors.pnl(account_ids=[account.pk], now=T0 + minutes(2))
    exposure = selectors.total_exposure(account_id=account.pk, now=T0 + minutes(2))
    # Paid 30000 USDT, received 0.999 * 31000 = 30969 USDT, holds nothing: +969.
    assert (pos.quantity, pos.cost_basis, pos.average_price) == (0, 0, None)
    assert (exposure.gross, report.totals.net_pnl) == (0, Decimal("969"))
    # Gross 999 (0.999 BTC at +1000) minus the 30 USDT fee.
    assert (report.totals.realized_pnl, report.totals.fees) == (Decimal("999"), Decimal("30"))


@pytest.mark.django_db
def test_fee_in_a_third_asset_is_converted_at_the_recorded_mark(account) -> None:
    services.record_mark(symbol="BNBUSDT", price=Decimal("600"), as_of=T0, source="test")
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="0.05", asset="BNB")
    relay()

    update = PositionUpdate.objects.get()
    assert update.fee_rate_source == PositionUpdate.FeeSource.MARK
    assert (update.fee_rate, update.fee_rate_symbol, update.fee_rate_as_of) == (Decimal("600"), "BNBUSDT", T0)
    assert update.fee_quote == Decimal("30")
    pos = position(account)
    assert (pos.fees_paid, pos.fees_complete) == (Decimal("30"), True)
    assert balance(account, "BNB").derived_total == Decimal("-0.05")


@pytest.mark.django_db
def test_fee_converted_through_an_inverted_mark(account) -> None:
    # ETHBTC pays its fee in USDT; only BTCUSDT is marked: 1 USDT = 1/40000 BTC.
    services.record_mark(symbol="BTCUSDT", price=Decimal("40000"), as_of=T0, source="test")
    fill(order_for(account, "BUY", "2", symbol="ETHBTC"), "2", "0.05", commission="8", asset="USDT")
    relay()

    update = PositionUpdate.objects.get()
    assert update.fee_rate_source == PositionUpdate.FeeSource.INVERSE_MARK
    assert update.fee_rate_symbol == "BTCUSDT"
    assert update.fee_quote == Decimal("0.0002")
    assert position(account, "ETHBTC").fees_paid == Decimal("0.0002")


@pytest.mark.django_db
def test_fee_without_any_rate_is_kept_in_its_own_asset_and_flagged(account) -> None:
    buy = order_for(account, "BUY", "2")
    fill(buy, "1", "30000", commission="0.05", asset="BNB")
    fill(buy, "1", "30000", commission="0.02", asset="BNB")
    relay()

    pos = position(account)
    assert pos.fees_paid == 0
    assert pos.unconverted_fees == {"BNB": "0.07"}
    assert pos.fees_complete is False
    assert set(PositionUpdate.objects.values_list("fee_rate_source", "fee_quote")) == {
        (PositionUpdate.FeeSource.UNAVAILABLE, None)
    }
    assert balance(account, "BNB").derived_total == Decimal("-0.07")


@pytest.mark.django_db
def test_replaying_events_and_redelivering_a_fill_change_nothing(account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="30", asset="USDT")
    relay()
    before = (position(account).version, position(account).quantity, balance(account, "USDT").derived_total)

    OutboxEvent.objects.update(published_at=None)
    assert relay() == 1  # delivered again, recognised as processed
    # The same fill under another event id (e.g. re-emitted) is recognised by its fill id.
    first = PositionUpdate.objects.get()
    services.handle_fill_recorded(
        fill_message(account_id=account.pk, side="BUY", qty="1", price="30000", fill_id=first.fill_id)
    )

    after = (position(account).version, position(account).quantity, balance(account, "USDT").derived_total)
    assert after == before
    assert PositionUpdate.objects.count() == 1
    assert BalanceFlow.objects.count() == 3  # BTC leg, USDT leg, USDT fee


@pytest.mark.django_db
def test_fill_of_an_unknown_instrument_is_retried_until_the_instrument_exists(user) -> None:
    account = AccountFactory.create(owner=user)
    btcusdt()
    fill(order_for(account, "BUY", "1"), "1", "30000")
    Instrument.objects.all().delete()

    assert relay() == 0
    event = OutboxEvent.objects.get()
    assert event.published_at is None
    assert event.attempts == 1
    assert "UnknownInstrument" in event.last_error
    assert not Position.objects.exists()
    assert not ProcessedEvent.objects.exists()  # rolled back with the failed update

    btcusdt()
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    assert relay() == 1
    assert position(account).quantity == Decimal("1")


@pytest.mark.django_db
def test_balance_reports_anchor_and_fills_since_are_derived(account) -> None:
    services.handle_balance_reported(
        balance_message(account_id=account.pk, event_time=T0, balances={"USDT": ("1000", "0")})
    )
    usdt = balance(account, "USDT")
    assert (usdt.free, usdt.locked, usdt.reported_at, usdt.derived_total) == (
        Decimal("1000"),
        Decimal("0"),
        T0,
        Decimal("1000"),
    )
    assert usdt.drift is None  # the first report is the baseline

    fill(
        order_for(account, "BUY", "0.01"),
        "0.01",
        "30000",
        commission="0.3",
        asset="USDT",
        executed_at=T0 + minutes(1),
    )
    relay()
    assert balance(account, "USDT").derived_total == Decimal("699.7")
    assert balance(account, "BTC").derived_total == Decimal("0.01")
    assert balance(account, "BTC").reported_at is None

    # The venue confirms exactly what the fill implies: no drift.
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk,
            event_time=T0 + minutes(2),
            balances={"USDT": ("699.7", "0"), "BTC": ("0.01", "0")},
        )
    )
    assert balance(account, "USDT").drift == 0
    assert balance(account, "USDT").drift_since == T0

    # A deposit of 50 USDT we learn of only from the venue: drift.
    services.handle_balance_reported(
        balance_message(account_id=account.pk, event_time=T0 + minutes(3), balances={"USDT": ("700", "49.7")})
    )
    assert balance(account, "USDT").drift == Decimal("50")
    assert balance(account, "USDT").derived_total == Decimal("749.7")


@pytest.mark.django_db
def test_older_reports_are_ignored_and_late_fills_correct_the_drift(account) -> None:
    services.handle_balance_reported(
        balance_message(account_id=account.pk, event_time=T0, balances={"USDT": ("1000", "0")})
    )
    # The venue's next report already includes a fill we have not consumed yet.
    services.handle_balance_reported(
        balance_message(account_id=account.pk, event_time=T0 + minutes(5), balances={"USDT": ("700", "0")})
    )
    assert balance(account, "USDT").drift == Decimal("-300")
    services.handle_balance_reported(  # stale: older than what we hold
        balance_message(account_id=account.pk, event_time=T0 + minutes(4), balances={"USDT": ("1", "0")})
    )
    assert balance(account, "USDT").free == Decimal("700")

    fill(order_for(account, "BUY", "0.01"), "0.01", "30000", executed_at=T0 + minutes(2))
    relay()

    usdt = balance(account, "USDT")
    assert usdt.drift == 0  # the late fill explains the difference
    assert usdt.derived_total == Decimal("700")  # already inside the report


@pytest.mark.django_db
def test_a_complete_report_zeroes_assets_it_omits(account) -> None:
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk, event_time=T0, balances={"USDT": ("10", "0"), "BNB": ("1", "0")}
        )
    )
    services.handle_balance_reported(
        balance_message(account_id=account.pk, event_time=T0 + minutes(1), balances={"USDT": ("10", "0")})
    )
    assert balance(account, "BNB").free == Decimal("1")  # a partial update leaves BNB alone
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk,
            event_time=T0 + minutes(2),
            balances={"USDT": ("10", "0")},
            complete=True,
            source="reconciliation",
        )
    )
    bnb = balance(account, "BNB")
    assert (bnb.free, bnb.derived_total, bnb.report_source) == (Decimal("0"), Decimal("0"), "reconciliation")


@pytest.mark.django_db
def test_reconciliation_comparator_reports_drift_per_asset(account) -> None:
    assert compare_with_venue in _balance_comparators  # registered at start-up
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk, event_time=T0, balances={"USDT": ("100", "0"), "BTC": ("1", "0")}
        )
    )
    drift = compare_with_venue(
        account.pk,
        [
            VenueBalance(asset="USDT", free=Decimal("90"), locked=Decimal("10")),
            VenueBalance(asset="ETH", free=Decimal("2"), locked=Decimal("0")),
        ],
    )
    assert drift == {
        "BTC": {"venue": "0", "portfolio": "1.000000000000000000", "drift": "-1.000000000000000000"},
        "ETH": {"venue": "2", "portfolio": "0", "drift": "2"},
    }


class _VenueSnapshotOneSecondAgo(RecordingVenue):
    """A venue whose account snapshot is a second old when its reply arrives (latency, a
    busy venue): it holds 1 BTC, the last change being a buy at `as_of`."""

    def __init__(self) -> None:
        super().__init__()
        self.as_of = timezone.now() - timedelta(seconds=1)

    def balances(self) -> VenueBalances:
        return VenueBalances(
            balances=[VenueBalance(asset="BTC", free=Decimal("1"), locked=Decimal("0"))], as_of=self.as_of
        )


@pytest.mark.django_db
def test_reconciliation_report_is_as_of_the_venue_snapshot_not_its_arrival(
    account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fill executed after the venue's snapshot but before the reply arrived is not in the
    1 BTC reported, so it must still move `derived_total`; the buy at exactly the snapshot's
    time is the change the snapshot is stamped with, so it is already inside the 1 BTC."""
    venue = _VenueSnapshotOneSecondAgo()
    monkeypatch.setattr(reconciliation_module, "adapter_for", lambda account: venue)
    assert reconcile_account(account_id=account.pk).status == ReconciliationRun.Status.SUCCEEDED
    fill(order_for(account, "BUY", "0.25"), "0.25", "30000", executed_at=venue.as_of)
    fill(
        order_for(account, "BUY", "0.5"), "0.5", "30000", executed_at=venue.as_of + timedelta(milliseconds=50)
    )
    relay()

    btc = balance(account, "BTC")
    assert (btc.derived_total, btc.reported_at, btc.report_source) == (
        Decimal("1.5"),
        venue.as_of,
        "reconciliation",
    )


@pytest.mark.django_db
def test_old_processed_ids_are_pruned(account) -> None:
    old = fill_message(account_id=account.pk, side="BUY", qty="1", price="30000")
    recent = fill_message(account_id=account.pk, side="BUY", qty="1", price="30000")
    services.handle_fill_recorded(old)
    services.handle_fill_recorded(recent)
    ProcessedEvent.objects.filter(event_id=old.id).update(processed_at=timezone.now() - timedelta(days=15))

    assert services.prune_processed_events(older_than=timedelta(days=14)) == 1
    assert list(ProcessedEvent.objects.values_list("event_id", flat=True)) == [recent.id]
    services.handle_fill_recorded(old)  # replayed by hand after pruning: the fill id still guards
    assert position(account).version == 2
