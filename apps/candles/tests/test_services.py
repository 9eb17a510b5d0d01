from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.candles import selectors, services
from apps.candles.models import Candle
from apps.core.errors import ValidationFailed

from .factories import T0, candle

pytestmark = pytest.mark.django_db


def _stored() -> list[tuple[object, ...]]:
    return list(
        Candle.objects.order_by("open_time").values_list(
            "id", "open_time", "open", "high", "low", "close", "volume", "close_time"
        )
    )


def _xmin() -> list[str]:
    """Row versions: an UPDATE that rewrites a row changes its xmin even if values are equal."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text FROM {Candle._meta.db_table} ORDER BY open_time")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_upsert_inserts_and_reimport_changes_nothing() -> None:
    series = [candle(i, str(100 + i)) for i in range(50)]
    assert services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=series) == 50
    before, versions = _stored(), _xmin()
    assert len(before) == 50
    assert before[3][2] == Decimal("103")

    assert services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=series) == 0
    assert _stored() == before
    assert _xmin() == versions  # not even rewritten with the same values


def test_revised_candle_updates_in_place() -> None:
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(0), candle(1)])
    ids = [row[0] for row in _stored()]
    revised = replace(candle(1), close=Decimal("100.5"), high=Decimal("102"), volume=Decimal("7.25"))

    assert services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(0), revised]) == 1
    rows = _stored()
    assert [row[0] for row in rows] == ids
    assert rows[1][3:7] == (Decimal("102"), Decimal("99"), Decimal("100.5"), Decimal("7.25"))


def test_repeated_open_time_in_one_batch_last_wins() -> None:
    first, second = candle(0, "100"), candle(0, "200")
    assert services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[first, second]) == 1
    assert Candle.objects.get().open == Decimal("200")


def test_series_are_separate() -> None:
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(0, "100")])
    services.upsert_candles(symbol="ETHUSDT", interval="1m", candles=[candle(0, "5")])
    services.upsert_candles(symbol="BTCUSDT", interval="5m", candles=[candle(0, "7", interval="5m")])
    assert Candle.objects.count() == 3
    assert selectors.candles_between(symbol="ETHUSDT", interval="1m")[0].open == Decimal("5")


def test_empty_input_writes_nothing() -> None:
    assert services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[]) == 0
    assert not Candle.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"low": Decimal("0")}, "low"),
        ({"low": Decimal("-1")}, "low"),
        ({"volume": Decimal("-0.1")}, "volume"),
        ({"high": Decimal("99.5")}, "high"),  # below open/close
        ({"low": Decimal("100.5")}, "high"),  # above open/close
        ({"open": Decimal("100.0000000000000000001")}, "open"),  # 19 decimals
        ({"volume": Decimal("1e20")}, "volume"),
        ({"high": Decimal("NaN")}, "high"),
        ({"volume": Decimal("Infinity")}, "volume"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(change: dict[str, Any], field: str) -> None:
    bad = replace(candle(2), **change)
    with pytest.raises(ValidationFailed) as caught:
        services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(0), candle(1), bad])
    assert caught.value.field == field
    assert not Candle.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"open_time": T0 + timedelta(seconds=30)}, "open_time"),  # off the 1m grid
        ({"open_time": T0.replace(tzinfo=None)}, "open_time"),
        ({"close_time": T0}, "close_time"),
    ],
)
def test_bad_times_are_refused(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[replace(candle(0), **change)])
    assert caught.value.field == field
    assert not Candle.objects.exists()


@pytest.mark.parametrize(
    ("symbol", "interval", "field"), [("btc", "1m", "symbol"), ("BTCUSDT", "7m", "interval")]
)
def test_bad_series_is_refused(symbol: str, interval: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.upsert_candles(symbol=symbol, interval=interval, candles=[candle(0)])
    assert caught.value.field == field


def test_check_candle_matches_the_sql_rules() -> None:
    services.check_candle(candle(0), interval="1m")
    with pytest.raises(ValidationFailed) as caught:
        services.check_candle(replace(candle(0), low=Decimal("0")), interval="1m")
    assert caught.value.field == "low"


def test_delete_series_before() -> None:
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(i) for i in range(10)])
    assert services.delete_series(symbol="BTCUSDT", interval="1m", before=T0 + timedelta(minutes=4)) == 4
    assert Candle.objects.count() == 6
