from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import pairwise
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.candles import importers, intervals, selectors, services
from apps.candles.domain import CandleData
from apps.candles.models import Candle
from apps.candles.sources import KlineSource, kline_source, register_kline_source
from apps.candles.synthetic import SyntheticParams, synthetic_candles
from apps.core.errors import ValidationFailed

from .factories import T0, candle

pytestmark = pytest.mark.django_db

# Two rows as data.binance.vision writes them (BTCUSDT 1m, 2024-01-01 00:00 and 00:01).
MS_ROWS = (
    "1704067200000,42283.58000000,42298.62000000,42261.02000000,42298.61000000,35.92724000,"
    "1704067259999,1519032.54438230,1327,17.26540000,730002.55962080,0\n"
    "1704067260000,42298.62000000,42320.00000000,42298.61000000,42320.00000000,21.08004000,"
    "1704067319999,891853.60935840,1031,13.49014000,570782.05616090,0\n"
)
# The same rows with microsecond timestamps (spot files from 2025 on).
US_ROWS = MS_ROWS.replace("1704067200000,", "1704067200000000,").replace(
    ",1704067259999,", ",1704067259999999,"
)
US_ROWS = US_ROWS.replace("1704067260000,", "1704067260000000,").replace(
    ",1704067319999,", ",1704067319999999,"
)
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)


def _expect_two_rows() -> None:
    rows = selectors.candles_between(symbol="BTCUSDT", interval="1m")
    assert [r.open_time for r in rows] == [T0, T0 + timedelta(minutes=1)]
    assert rows[0] == CandleData(
        open_time=T0,
        open=Decimal("42283.58"),
        high=Decimal("42298.62"),
        low=Decimal("42261.02"),
        close=Decimal("42298.61"),
        volume=Decimal("35.92724"),
        close_time=T0 + timedelta(seconds=59, milliseconds=999),
    )


@pytest.mark.parametrize("body", [MS_ROWS, US_ROWS, HEADER + MS_ROWS, HEADER + US_ROWS])
def test_csv_import_ms_and_us_timestamps(tmp_path: Path, body: str) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    path.write_text(body)
    report = importers.import_csv(path=path)
    assert (report.symbol, report.interval, report.received, report.written) == ("BTCUSDT", "1m", 2, 2)
    _expect_two_rows()
    assert importers.import_csv(path=path).written == 0  # idempotent


def test_csv_import_from_zip_as_downloaded(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BTCUSDT-1m-2024-01.csv", US_ROWS)
    assert importers.import_csv(path=path).written == 2
    _expect_two_rows()


def test_csv_with_an_unknown_name_needs_the_series(tmp_path: Path) -> None:
    path = tmp_path / "klines.csv"
    path.write_text(MS_ROWS)
    with pytest.raises(ValidationFailed) as caught:
        importers.import_csv(path=path)
    assert caught.value.field == "symbol"
    assert importers.import_csv(path=path, symbol="BTCUSDT", interval="1m").written == 2


def test_csv_with_a_bad_row_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    path.write_text(MS_ROWS + "1704067320000,abc,1,1,1,1,1704067379999,0,0,0,0,0\n")
    with pytest.raises(ValidationFailed) as caught:
        importers.import_csv(path=path)
    assert caught.value.field == "file"
    assert "line 3" in caught.value.message
    assert not Candle.objects.exists()


def test_csv_with_the_wrong_interval_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1h-2024-01-01.csv"  # the rows are 1m candles
    path.write_text(MS_ROWS)
    with pytest.raises(ValidationFailed) as caught:
        importers.import_csv(path=path)
    assert caught.value.field == "open_time"


def test_csv_through_the_command(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-01-01.csv"
    path.write_text(US_ROWS)
    out = StringIO()
    call_command("import_candles", "csv", str(path), "--no-progress", stdout=out)
    assert "BTCUSDT 1m: 2 candles received, 2 written" in out.getvalue()
    _expect_two_rows()


# --- synthetic -------------------------------------------------------------------------------


def test_synthetic_is_deterministic_by_seed() -> None:
    def series(seed: int, count: int = 500) -> list[CandleData]:
        return list(
            synthetic_candles(interval="1m", start=T0, count=count, params=SyntheticParams(seed=seed))
        )

    assert series(1) == series(1)
    assert series(1) != series(2)
    assert series(1, 1000)[:500] == series(1)  # a longer series extends a shorter one


def test_synthetic_candles_are_realistic() -> None:
    params = SyntheticParams(seed=5, volatility=0.01)
    made = list(synthetic_candles(interval="5m", start=T0 + timedelta(minutes=2), count=2000, params=params))
    assert made[0].open_time == T0  # aligned to the interval
    assert made[0].open == Decimal("30000.00")
    for previous, current in pairwise(made):
        assert current.open == previous.close
        assert current.open_time == previous.close_time + timedelta(milliseconds=1)
    for c in made:
        assert 0 < c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        assert c.volume > 0
        assert c.close.as_tuple().exponent == -2
    closes = [c.close for c in made]
    assert len(set(closes)) > 1000  # it moves


def test_synthetic_through_the_command() -> None:
    args = ("import_candles", "synthetic", "--symbol", "DEMOUSDT", "--interval", "1h", "--count", "300")
    call_command(*args, "--seed", "3", "--start", "2024-02-01", "--no-progress", stdout=StringIO())
    call_command(*args, "--seed", "3", "--start", "2024-02-01", "--no-progress", stdout=StringIO())
    assert Candle.objects.filter(symbol="DEMOUSDT", interval="1h").count() == 300
    expected = list(
        synthetic_candles(
            interval="1h",
            start=datetime.fromisoformat("2024-02-01T00:00:00+00:00"),
            count=300,
            params=SyntheticParams(seed=3),
        )
    )
    assert selectors.candles_between(symbol="DEMOUSDT", interval="1h") == expected


# --- from a kline source ---------------------------------------------------------------------------


class ListSource:
    """A kline source over a list, answering as GET /api/v3/klines does; it can fail after
    some requests, as a network would."""

    def __init__(self, klines: list[CandleData], *, fail_after: int | None = None) -> None:
        self.klines_held = klines
        self.fail_after = fail_after
        self.calls: list[tuple[datetime | None, datetime | None, int]] = []

    def klines(
        self,
        *,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> Sequence[CandleData]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise ConnectionError("network down")
        self.calls.append((start, end, limit))
        rows = [k for k in self.klines_held if (start is None or k.open_time >= start)]
        return [k for k in rows if end is None or k.open_time <= end][:limit]


def _series(count: int) -> list[CandleData]:
    return list(synthetic_candles(interval="1m", start=T0, count=count, params=SyntheticParams(seed=9)))


def test_source_import_pages_and_skips_the_candle_in_progress() -> None:
    klines = _series(2500)
    now = klines[-1].open_time + timedelta(seconds=10)  # the last one has not closed
    source = ListSource(klines)
    report = importers.import_from_source(source=source, symbol="BTCUSDT", interval="1m", start=T0, now=now)
    assert report.requests == 3
    assert [limit for *_, limit in source.calls] == [1000, 1000, 1000]
    assert report.written == 2499
    assert selectors.candles_between(symbol="BTCUSDT", interval="1m") == klines[:-1]


def test_source_import_resumes_after_the_last_stored_candle() -> None:
    klines = _series(3500)
    now = klines[-1].close_time + timedelta(seconds=1)
    failing = ListSource(klines, fail_after=2)
    with pytest.raises(ConnectionError):
        importers.import_from_source(source=failing, symbol="BTCUSDT", interval="1m", start=T0, now=now)
    assert Candle.objects.count() == 2000  # every page fetched was stored

    resumed = ListSource(klines)
    report = importers.import_from_source(source=resumed, symbol="BTCUSDT", interval="1m", start=T0, now=now)
    assert resumed.calls[0][0] == klines[2000].open_time  # after the last stored candle
    assert (report.requests, report.written) == (2, 1500)
    assert selectors.candles_between(symbol="BTCUSDT", interval="1m") == klines

    again = ListSource(klines)
    report = importers.import_from_source(source=again, symbol="BTCUSDT", interval="1m", start=T0, now=now)
    assert report.written == 0
    assert len(again.calls) == 1  # only the check for anything newer


def test_source_import_without_resume_revises_stored_candles() -> None:
    klines = _series(10)
    now = klines[-1].close_time + timedelta(seconds=1)
    importers.import_from_source(
        source=ListSource(klines), symbol="BTCUSDT", interval="1m", start=T0, now=now
    )
    revised = [*klines[:5], replace(klines[5], volume=klines[5].volume + 1), *klines[6:]]
    report = importers.import_from_source(
        source=ListSource(revised), symbol="BTCUSDT", interval="1m", start=T0, now=now, resume=False
    )
    assert report.written == 1
    assert selectors.candles_between(symbol="BTCUSDT", interval="1m") == revised


def test_source_import_honours_end() -> None:
    klines = _series(100)
    end = T0 + timedelta(minutes=40)
    report = importers.import_from_source(
        source=ListSource(klines), symbol="BTCUSDT", interval="1m", start=T0 + timedelta(minutes=10), end=end
    )
    assert report.written == 30
    stored = selectors.candles_between(symbol="BTCUSDT", interval="1m")
    assert (stored[0].open_time, stored[-1].open_time) == (
        T0 + timedelta(minutes=10),
        end - timedelta(minutes=1),
    )


def test_source_import_needs_a_start_for_a_new_series() -> None:
    with pytest.raises(ValidationFailed) as caught:
        importers.import_from_source(source=ListSource([]), symbol="BTCUSDT", interval="1m")
    assert caught.value.field == "start"


def test_resume_point() -> None:
    assert importers.resume_point(symbol="BTCUSDT", interval="1m", start=None) is None
    services.upsert_candles(symbol="BTCUSDT", interval="1m", candles=[candle(0), candle(1)])
    assert importers.resume_point(symbol="BTCUSDT", interval="1m", start=T0) == T0 + timedelta(minutes=2)
    later = T0 + timedelta(days=1)
    assert importers.resume_point(symbol="BTCUSDT", interval="1m", start=later) == later


def test_registered_source_through_the_command() -> None:
    klines = _series(1200)
    seen: list[dict[str, str]] = []

    def factory(options: dict[str, str]) -> KlineSource:
        seen.append(dict(options))
        return ListSource(klines)

    register_kline_source("listed", factory)  # type: ignore[arg-type]
    out = StringIO()
    call_command(
        "import_candles",
        "listed",
        "--symbol",
        "BTCUSDT",
        "--interval",
        "1m",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-01T10:00:00Z",
        "--mode",
        "simulated",
        "--no-progress",
        stdout=out,
    )
    assert seen == [{"mode": "simulated"}]
    assert Candle.objects.count() == 600
    assert "600 written" in out.getvalue()
    assert isinstance(kline_source("listed"), ListSource)


def test_command_errors_are_clean(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="unknown kline source"):
        call_command(
            "import_candles", "nowhere", "--symbol", "BTCUSDT", "--interval", "1m", "--start", "2024-01-01"
        )
    with pytest.raises(CommandError, match="--start is required"):
        call_command("import_candles", "binance", "--symbol", "BTCUSDT", "--interval", "1m", "--no-progress")
    with pytest.raises(CommandError, match="--count is required"):
        call_command("import_candles", "synthetic", "--symbol", "BTCUSDT", "--interval", "1m")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_candles", "csv", str(tmp_path / "missing.csv"))


def test_interval_helpers() -> None:
    monday = datetime.fromisoformat("2024-01-01T00:00:00+00:00")  # a Monday
    wednesday = intervals.to_ms(monday + timedelta(days=2, hours=5))
    assert intervals.open_of(wednesday, "1w") == intervals.to_ms(monday)
    feb = intervals.to_ms(datetime.fromisoformat("2024-02-10T00:00:00+00:00"))
    assert intervals.from_ms(intervals.open_of(feb, "1M")).day == 1
    assert intervals.from_ms(intervals.close_of(intervals.open_of(feb, "1M"), "1M") + 1).month == 3
