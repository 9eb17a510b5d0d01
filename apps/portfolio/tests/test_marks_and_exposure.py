"""Marks never move backwards; exposure selectors for risk (per symbol and total)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.errors import ValidationFailed
from apps.portfolio import selectors, services
from apps.portfolio.domain import PriceSource
from apps.portfolio.models import Mark

from .factories import T0, fill, minutes, order_for, reconciled, relay


@pytest.mark.django_db
def test_record_mark_keeps_the_newest_and_refuses_nonsense() -> None:
    services.record_mark(symbol="BTCUSDT", price=Decimal("30000"), as_of=T0, source="candle")
    services.record_mark(symbol="BTCUSDT", price=Decimal("29000"), as_of=T0 - minutes(1), source="late")
    assert (Mark.objects.get().price, Mark.objects.get().source) == (Decimal("30000"), "candle")

    newer = services.record_mark(
        symbol="BTCUSDT", price=Decimal("31000"), as_of=T0 + minutes(1), source="ticker"
    )
    assert (newer.price, newer.as_of, newer.source) == (Decimal("31000"), T0 + minutes(1), "ticker")
    assert Mark.objects.count() == 1

    with pytest.raises(ValidationFailed):
        services.record_mark(symbol="BTCUSDT", price=Decimal("0"), as_of=T0, source="x")
    with pytest.raises(ValidationFailed):
        services.record_mark(symbol="BTCUSDT", price=Decimal("NaN"), as_of=T0, source="x")


@pytest.mark.django_db
def test_exposure_per_symbol_and_total_in_the_valuation_asset(account) -> None:
    fill(order_for(account, "BUY", "0.5"), "0.5", "30000")
    fill(order_for(account, "SELL", "10", symbol="ETHBTC"), "10", "0.05")  # short 10 ETH in BTC
    relay()
    reconciled(account, T0)
    services.record_mark(symbol="BTCUSDT", price=Decimal("40000"), as_of=T0, source="t")
    services.record_mark(symbol="ETHBTC", price=Decimal("0.06"), as_of=T0, source="t")

    btc = selectors.exposure_for_symbol(account_id=account.pk, symbol="BTCUSDT", now=T0)
    eth = selectors.exposure_for_symbol(account_id=account.pk, symbol="ETHBTC", now=T0)
    total = selectors.total_exposure(account_id=account.pk, now=T0)

    assert (btc.notional, btc.exposure, btc.exposure_valued, btc.price_source) == (
        Decimal("20000"),
        Decimal("20000"),
        Decimal("20000"),
        PriceSource.MARK,
    )
    assert (eth.notional, eth.exposure, eth.exposure_valued) == (
        Decimal("-0.6"),
        Decimal("0.6"),
        Decimal("24000"),
    )
    assert (total.gross, total.net, total.unvalued_symbols) == (Decimal("44000"), Decimal("-4000"), ())
    assert not total.freshness.is_stale
    none = selectors.exposure_for_symbol(account_id=account.pk, symbol="BNBUSDT", now=T0)
    assert (none.quantity, none.exposure) == (0, 0)


@pytest.mark.django_db
def test_without_marks_exposure_falls_back_to_the_entry_price_and_is_stale(account) -> None:
    fill(order_for(account, "BUY", "2", symbol="ETHBTC"), "2", "0.05")
    relay()
    reconciled(account, T0)

    eth = selectors.exposure_for_symbol(account_id=account.pk, symbol="ETHBTC", now=T0)
    total = selectors.total_exposure(account_id=account.pk, now=T0)

    assert (eth.price, eth.price_source, eth.exposure) == (
        Decimal("0.05"),
        PriceSource.AVERAGE_PRICE,
        Decimal("0.1"),
    )
    assert eth.exposure_valued is None  # no BTCUSDT rate
    assert set(eth.freshness.stale_reasons) == {"mark_missing:ETHBTC", "mark_missing:BTCUSDT"}
    assert total.unvalued_symbols == ("ETHBTC",)
    assert total.gross == 0
    assert total.freshness.is_stale
    [listed] = selectors.exposures_for_account(account_id=account.pk, now=T0)
    assert listed.symbol == "ETHBTC"
    held = selectors.position_of(account_id=account.pk, symbol="ETHBTC", now=T0)
    assert held is not None
    assert held.quantity == Decimal("2")
    assert selectors.position_of(account_id=account.pk, symbol="BTCUSDT", now=T0) is None
