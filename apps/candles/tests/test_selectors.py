from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.candles import intervals, selectors, services
from apps.candles.domain import CandleArrays, CandleData
from apps.candles.models import Candle
from apps.candles.synthetic import SyntheticParams, synthetic_candles

from .factories import T0, CandleFactory, candle

pytestmark = pytest.mark.django_db

FIELDS = ("open_time", "open", "high", "low", "close", "volume")


def _orm_arrays(**filters: object) -> dict[str, list[object]]:
    rows = list(Candle.objects.filter(**filters).order_by("open_time").values_list(*FIELDS))
    return {name: [row[i] for row in rows] for i, name in enumerate(FIELDS)}


def _assert_same(arrays: CandleArrays, orm: dict[str, list[object]]) -> None:
    assert arrays.open_time.dtype == np.int64
    assert arrays.open_time.tolist() == [intervals.to_ms(t) for t in orm["open_time"]]  # type: ignore[arg-type]
    for name in FIELDS[1:]:
        column = getattr(arrays, name)
        assert column.dtype == np.float64
        assert column.tolist() == [float(v) for v in orm[name]]  # type: ignore[arg-type]


def test_load_arrays_equals_orm_values() -> None:
    services.upsert_candles(
        symbol="BTCUSDT",
        interval="1m",
        candles=synthetic_candles(interval="1m", start=T0, count=3000, params=SyntheticParams(seed=11)),
    )
    CandleFactory.create(symbol="ETHUSDT")  # another series is not loaded
    arrays = selectors.load_arrays(symbol="BTCUSDT", interval="1m")
    assert len(arrays) == 3000
    _assert_same(arrays, _orm_arrays(symbol="BTCUSDT", interval="1m"))
    assert np.all(np.diff(arrays.open_time) == 60_000)


def test_load_arrays_range_is_half_open() -> None:
    services.upsert_candles(
        symbol="BTCUSDT", interval="1m", candles=[candle(i, str(100 + i)) for i in range(10)]
    )
    arrays = selectors.load_arrays(
        symbol="BTCUSDT", interval="1m", start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=5)
    )
    assert arrays.close.tolist() == [102.0, 103.0, 104.0]
    assert arrays.open_time[0] == intervals.to_ms(T0) + 2 * 60_000


def test_load_arrays_empty_series() -> None:
    arrays = selectors.load_arrays(symbol="NOPEUSDT", interval="1m")
    assert len(arrays) == 0
    assert arrays.close.dtype == np.float64


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prices=st.lists(
        st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), places=8, allow_nan=False),
        min_size=1,
        max_size=30,
    )
)
def test_load_arrays_equals_orm_for_any_prices(prices: list[Decimal]) -> None:
    Candle.objects.all().delete()
    series = [
        CandleData(
            open_time=candle(i).open_time,
            open=p,
            high=p * 2,
            low=p,
            close=p,
            volume=p,
            close_time=candle(i).close_time,
        )
        for i, p in enumerate(prices)
    ]
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=series)
    _assert_same(selectors.load_arrays(symbol="BTCUSDT", interval="1m"), _orm_arrays())


def test_latest_closed_candle_ignores_the_candle_in_progress() -> None:
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(i) for i in range(3)])
    in_progress = T0 + timedelta(minutes=2, seconds=30)
    latest = selectors.latest_closed_candle(symbol="BTCUSDT", interval="1m", now=in_progress)
    assert latest is not None
    assert latest.open_time == T0 + timedelta(minutes=1)
    after_close = T0 + timedelta(minutes=3)
    latest = selectors.latest_closed_candle(symbol="BTCUSDT", interval="1m", now=after_close)
    assert latest is not None
    assert latest.open_time == T0 + timedelta(minutes=2)
    assert selectors.latest_closed_candle(symbol="BTCUSDT", interval="1m", now=T0) is None
    assert selectors.latest_closed_candle(symbol="BTCUSDT", interval="5m", now=after_close) is None


def test_candles_between_returns_decimals_in_order() -> None:
    made = [CandleFactory.create() for _ in range(5)]
    rows = selectors.candles_between(symbol="BTCUSDT", interval="1m", start=made[1].open_time, limit=3)
    assert [r.open_time for r in rows] == [c.open_time for c in made[1:4]]
    assert rows[0].open == made[1].open
    assert isinstance(rows[0].close, Decimal)


def test_load_decimal_bars_and_recent_arrays_take_the_last_closed() -> None:
    services.upsert_candles(
        symbol="BTCUSDT", interval="1m", candles=[candle(i, str(100 + i)) for i in range(10)]
    )
    now = T0 + timedelta(minutes=9, seconds=1)  # candle 9 is still open
    bars = selectors.load_decimal_bars(symbol="BTCUSDT", interval="1m", count=3, now=now)
    assert [b.close for b in bars] == [Decimal(106), Decimal(107), Decimal(108)]
    recent = selectors.load_recent_arrays(symbol="BTCUSDT", interval="1m", count=3, now=now)
    assert recent.close.tolist() == [106.0, 107.0, 108.0]
    everything = selectors.load_recent_arrays(symbol="BTCUSDT", interval="1m", count=50, now=now)
    assert len(everything) == 9


def test_series_summary() -> None:
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(i) for i in range(4)])
    summary = selectors.series_summary(symbol="BTCUSDT", interval="1m")
    assert summary.count == 4
    assert summary.first_open_time == T0
    assert summary.last_open_time == T0 + timedelta(minutes=3)


def test_arrays_slice() -> None:
    services.upsert_candles(
        symbol="BTCUSDT", interval="1m", candles=[candle(i, str(100 + i)) for i in range(5)]
    )
    part = selectors.load_arrays(symbol="BTCUSDT", interval="1m").slice(1, 3)
    assert part.open.tolist() == [101.0, 102.0]
    assert len(part) == 2


def test_binary_copy_parser_refuses_what_it_does_not_understand() -> None:
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    assert len(selectors._arrays_from_copy(header + b"\xff\xff")) == 0
    with pytest.raises(ValueError, match="not a complete"):
        selectors._arrays_from_copy(header)  # no trailer: cut short
    with pytest.raises(ValueError, match="rows are not"):
        selectors._arrays_from_copy(header + b"\x00\x06" + b"\xff\xff")
    wrong_count = b"\x00\x05" + (b"\x00\x00\x00\x08" + b"\x00" * 8) * 6
    with pytest.raises(ValueError, match="layout"):
        selectors._arrays_from_copy(header + wrong_count + b"\xff\xff")


def test_recent_arrays_end_at_now_with_later_candles_stored() -> None:
    """A backtest's warm-up: the last closed candles before its start, with the whole traded
    range stored after it (the read is bounded at `now`, nothing later leaks in)."""
    services.upsert_candles(
        symbol="BTCUSDT", interval="1m", candles=[candle(i, str(100 + i)) for i in range(40)]
    )
    now = T0 + timedelta(minutes=10)  # candles 0..9 closed; 10 opens exactly at now
    recent = selectors.load_recent_arrays(symbol="BTCUSDT", interval="1m", count=4, now=now)
    assert recent.close.tolist() == [106.0, 107.0, 108.0, 109.0]
    everything = selectors.load_recent_arrays(symbol="BTCUSDT", interval="1m", count=500, now=now)
    assert everything.close.tolist() == [float(100 + i) for i in range(10)]
