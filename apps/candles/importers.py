"""Imports into the candle table: from a kline source (paginated, resumable), from Binance
public-data CSV files, and from the synthetic generator. All of them write through
`services.upsert_candles`, so re-running an import changes nothing and revised candles update.

Progress is reported through a callback (the command draws a tqdm bar with it).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from django.utils import timezone

from apps.core.errors import ValidationFailed

from . import intervals, selectors, services
from .domain import CandleData
from .sources import MAX_PAGE, KlineLike, KlineSource
from .synthetic import SyntheticParams, synthetic_candles

Progress = Callable[[int], None]
#: Candles per upsert (one transaction each) for CSV and synthetic imports.
CHUNK = 50_000
#: data.binance.vision switched spot files from ms to µs timestamps in 2025. 10**14 ms is the
#: year 5138 and 10**14 µs is 1973, so anything at or above it is µs.
_MICROS_FROM = 10**14
_ONE_MS = timedelta(milliseconds=1)  # Binance's endTime is inclusive
_FILE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]{2,32})-(?P<interval>\d+[smhdwM])-")


@dataclass(slots=True)
class ImportReport:
    symbol: str
    interval: str
    received: int = 0
    written: int = 0
    requests: int = 0
    first_open_time: datetime | None = None
    last_open_time: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def saw(self, candles: list[CandleData]) -> None:
        if candles:
            self.first_open_time = self.first_open_time or candles[0].open_time
            self.last_open_time = candles[-1].open_time
        self.received += len(candles)


# --- from a kline source (Binance through the exchange adapter) -------------------------------


def resume_point(*, symbol: str, interval: str, start: datetime | None) -> datetime | None:
    """Where an import continues: after the last stored candle if there is one at or after
    `start`, else `start` itself (None when neither is known)."""
    last = selectors.latest_candle(symbol=symbol, interval=interval)
    if last is None or (start is not None and last.open_time < start):
        return start
    return intervals.from_ms(intervals.next_open(intervals.to_ms(last.open_time), interval))


def import_from_source(
    *,
    source: KlineSource,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    resume: bool = True,
    now: datetime | None = None,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Fetch closed candles opening in [start, end) page by page (1000 a request) and store
    each page as it arrives, so an interrupted import resumes where it stopped.

    The candle still in progress is never stored: it would be revised after we stored it and
    a resumed import starts after the last stored candle.
    """
    services.check_series(symbol=symbol, interval=interval)
    moment = now or timezone.now()
    cursor = resume_point(symbol=symbol, interval=interval, start=start) if resume else start
    if cursor is None:
        raise ValidationFailed("start is required: no candles of this series are stored yet.", field="start")
    stop = min(end, moment) if end is not None else moment
    report = ImportReport(symbol=symbol, interval=interval)
    while cursor < stop:
        page = source.klines(
            symbol=symbol, interval=interval, start=cursor, end=stop - _ONE_MS, limit=MAX_PAGE
        )
        report.requests += 1
        candles = [_candle(k) for k in page if cursor <= k.open_time < stop and k.close_time < moment]
        report.saw(candles)
        report.written += services.upsert_candles(symbol=symbol, interval=interval, candles=candles)
        if on_progress:
            on_progress(len(candles))
        if len(page) < MAX_PAGE or len(candles) < len(page):
            break  # the source has nothing more, or the rest is out of range / not closed yet
        cursor = intervals.from_ms(intervals.next_open(intervals.to_ms(candles[-1].open_time), interval))
    return report


def expected_count(*, interval: str, start: datetime, end: datetime) -> int:
    """About how many candles open in [start, end) (for progress bars)."""
    span = intervals.to_ms(end) - intervals.to_ms(start)
    return max(0, -(-span // intervals.nominal_ms(interval)))


def _candle(kline: KlineLike) -> CandleData:
    return CandleData(
        open_time=kline.open_time,
        open=kline.open,
        high=kline.high,
        low=kline.low,
        close=kline.close,
        volume=kline.volume,
        close_time=kline.close_time,
    )


# --- from Binance public-data CSV files ---------------------------------------------------------


def series_of_file(path: Path) -> tuple[str, str] | None:
    """(symbol, interval) from a data.binance.vision file name like BTCUSDT-1m-2024-01.csv."""
    match = _FILE_NAME.match(path.name)
    if match is None or not intervals.is_valid(match["interval"]):
        return None
    return match["symbol"], match["interval"]


def read_kline_csv(stream: TextIO) -> Iterator[CandleData]:
    """Candles from a Binance kline CSV: open_time, open, high, low, close, volume, close_time,
    quote_volume, count, taker_buy_base, taker_buy_quote, ignore. Timestamps in ms or µs (per
    row); an optional header line is skipped."""
    for number, row in enumerate(csv.reader(stream), start=1):
        if not row or (number == 1 and not row[0].strip().isdigit()):
            continue
        if len(row) < 7:
            raise ValidationFailed(
                f"line {number}: expected at least 7 columns, got {len(row)}.", field="file"
            )
        try:
            yield CandleData(
                open_time=_time(row[0]),
                open=Decimal(row[1]),
                high=Decimal(row[2]),
                low=Decimal(row[3]),
                close=Decimal(row[4]),
                volume=Decimal(row[5]),
                close_time=_time(row[6]),
            )
        except (InvalidOperation, ValueError) as exc:
            raise ValidationFailed(f"line {number}: {exc!r} is not a kline row.", field="file") from exc


def open_kline_file(path: Path) -> TextIO:
    """A text stream over a .csv file, or over the one CSV inside a .zip (as downloaded)."""
    if path.suffix.lower() != ".zip":
        return path.open(newline="", encoding="ascii")
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if len(members) != 1:
        raise ValidationFailed(f"{path.name} must hold exactly one CSV file.", field="file")
    return io.TextIOWrapper(archive.open(members[0]), encoding="ascii", newline="")


def import_csv(
    *, path: Path, symbol: str | None = None, interval: str | None = None, on_progress: Progress | None = None
) -> ImportReport:
    """Import one kline CSV (or .zip) file; symbol and interval default to the file name's."""
    named = series_of_file(path)
    symbol = symbol or (named[0] if named else None)
    interval = interval or (named[1] if named else None)
    if symbol is None or interval is None:
        raise ValidationFailed(
            f"cannot tell the symbol and interval from {path.name}; give them explicitly.", field="symbol"
        )
    with open_kline_file(path) as stream:
        return _import_chunks(symbol, interval, read_kline_csv(stream), on_progress)


# --- synthetic ------------------------------------------------------------------------------------


def import_synthetic(
    *,
    symbol: str,
    interval: str,
    start: datetime,
    count: int,
    params: SyntheticParams | None = None,
    on_progress: Progress | None = None,
) -> ImportReport:
    candles = synthetic_candles(interval=interval, start=start, count=count, params=params)
    return _import_chunks(symbol, interval, candles, on_progress)


def _import_chunks(
    symbol: str, interval: str, candles: Iterable[CandleData], on_progress: Progress | None
) -> ImportReport:
    services.check_series(symbol=symbol, interval=interval)
    report = ImportReport(symbol=symbol, interval=interval)
    chunk: list[CandleData] = []
    for candle in candles:
        chunk.append(candle)
        if len(chunk) >= CHUNK:
            _flush(report, chunk, on_progress)
            chunk = []
    _flush(report, chunk, on_progress)
    return report


def _flush(report: ImportReport, chunk: list[CandleData], on_progress: Progress | None) -> None:
    if not chunk:
        return
    report.saw(chunk)
    report.written += services.upsert_candles(symbol=report.symbol, interval=report.interval, candles=chunk)
    if on_progress:
        on_progress(len(chunk))


def _time(value: str) -> datetime:
    stamp = int(value)
    return intervals.from_ms(stamp // 1000 if stamp >= _MICROS_FROM else stamp)
