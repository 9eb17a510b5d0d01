"""Candles' read API. Ranges are half-open on the open time: start <= open_time < end.

Other apps get `CandleData` (Decimal) or `CandleArrays` (numpy), never querysets. The array
loader never builds model instances: PostgreSQL sends the open time and the generated float8
columns as binary COPY rows of one fixed layout, which numpy reads in place (`frombuffer`), so
a million candles load in well under a second.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from .domain import CandleArrays, CandleData, SeriesSummary
from .models import Candle

_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "close_time")
_ARRAYS = ("open_time", "open", "high", "low", "close", "volume")
#: One binary COPY tuple: field count, then (length, value) for the timestamptz and 5 float8s.
#: A binary timestamptz is int64 microseconds since 2000-01-01 UTC, converted here (extract()
#: in the query would cost more than the rest of it); the float8s are the generated columns.
_ROW = np.dtype(
    [("n", ">i2"), ("l0", ">i4"), ("open_time", ">i8")]
    + [item for name in _ARRAYS[1:] for item in ((f"l_{name}", ">i4"), (name, ">f8"))]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = len(_COPY_SIGNATURE) + 8  # flags (int32) + header extension length (int32)
_TRAILER = b"\xff\xff"
_PG_EPOCH_MS = 946_684_800_000


def _series(symbol: str, interval: str) -> QuerySet[Candle]:
    return Candle.objects.filter(symbol=symbol, interval=interval)


def _in_range(rows: QuerySet[Candle], start: datetime | None, end: datetime | None) -> QuerySet[Candle]:
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lt=end)
    return rows


def _data(values: tuple[Any, ...]) -> CandleData:
    return CandleData(*values)


def latest_closed_candle(*, symbol: str, interval: str, now: datetime | None = None) -> CandleData | None:
    """The newest candle that had closed by `now` (default: now): its close time is before it.

    Live strategies act on closed candles only; the in-progress one is still being revised.
    """
    moment = now or timezone.now()
    values = (
        _series(symbol, interval)
        .filter(close_time__lt=moment)
        .order_by("-open_time")
        .values_list(*_FIELDS)
        .first()
    )
    return _data(values) if values else None


def latest_candle(*, symbol: str, interval: str) -> CandleData | None:
    """The newest stored candle, closed or not (where an import resumes)."""
    values = _series(symbol, interval).order_by("-open_time").values_list(*_FIELDS).first()
    return _data(values) if values else None


def candles_between(
    *,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[CandleData]:
    """Candles with start <= open_time < end, oldest first (at most `limit`), as Decimals."""
    rows = _in_range(_series(symbol, interval), start, end).order_by("open_time").values_list(*_FIELDS)
    if limit is not None:
        rows = rows[:limit]
    return [_data(values) for values in rows]


def load_decimal_bars(
    *, symbol: str, interval: str, count: int, now: datetime | None = None
) -> list[CandleData]:
    """The last `count` candles closed by `now`, oldest first, as Decimals (live warm-up)."""
    moment = now or timezone.now()
    rows = (
        _series(symbol, interval)
        .filter(close_time__lt=moment)
        .order_by("-open_time")
        .values_list(*_FIELDS)[:count]
    )
    return [_data(values) for values in reversed(list(rows))]


def series_summary(*, symbol: str, interval: str) -> SeriesSummary:
    agg = _series(symbol, interval).aggregate(
        first=Min("open_time"), last=Max("open_time"), last_close=Max("close_time")
    )
    count = _series(symbol, interval).count()
    return SeriesSummary(
        symbol=symbol,
        interval=interval,
        count=count,
        first_open_time=agg["first"],
        last_open_time=agg["last"],
        last_close_time=agg["last_close"],
    )


def load_arrays(
    *,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    closed_by: datetime | None = None,
) -> CandleArrays:
    """Candles with start <= open_time < end (and, with `closed_by`, closed before it) as
    numpy arrays, oldest first: open times in ms (int64), prices and volume as float64.

    For indicator math and backtests only; live decisions that need exact values use
    `load_decimal_bars`.
    """
    conditions = ["symbol = %s", "interval = %s"]
    params: list[object] = [symbol, interval]
    for clause, value in (
        ("open_time >= %s", start),
        ("open_time < %s", end),
        ("close_time < %s", closed_by),
    ):
        if value is not None:
            conditions.append(clause)
            params.append(value)
    floats = ", ".join(f"{name}_float" for name in _ARRAYS[1:])
    query = (
        f"COPY (SELECT open_time, {floats} "  # noqa: S608
        f"FROM {Candle._meta.db_table} WHERE {' AND '.join(conditions)} ORDER BY open_time) "
        "TO STDOUT (FORMAT BINARY)"
    )
    return _arrays_from_copy(_copy_out(query, params))


def load_recent_arrays(
    *, symbol: str, interval: str, count: int, now: datetime | None = None
) -> CandleArrays:
    """The last `count` candles closed by `now` as arrays, oldest first (live indicator warm-up)."""
    moment = now or timezone.now()
    first = (
        _series(symbol, interval)
        .filter(close_time__lt=moment)
        .order_by("-open_time")
        .values_list("open_time", flat=True)[count - 1 : count]
    )
    start = next(iter(first), None)
    # `end=moment` changes no row (a candle closed by `moment` opened before it) but bounds the
    # index range: without it PostgreSQL walks every later candle of the series to test its
    # close time (a backtest's warm-up read the whole range after its start: ~1 s per 1M).
    if start is None:  # fewer than `count`: all of them
        return load_arrays(symbol=symbol, interval=interval, end=moment, closed_by=moment)
    return load_arrays(symbol=symbol, interval=interval, start=start, end=moment, closed_by=moment)


def _copy_out(query: str, params: list[object]) -> bytearray:
    data = bytearray()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor: COPY is not part of the DB-API
        with raw.copy(query, params) as copy:
            for block in copy:
                data += block
    return data


def _arrays_from_copy(data: bytes | bytearray) -> CandleArrays:
    """Parse PostgreSQL's binary COPY output of (timestamptz, float8 x 5) rows without a Python loop."""
    if not data.startswith(_COPY_SIGNATURE) or not data.endswith(_TRAILER):
        raise ValueError("not a complete binary COPY stream")
    (extension,) = struct.unpack_from(">i", data, len(_COPY_SIGNATURE) + 4)
    offset = _HEADER + extension
    body = len(data) - offset - len(_TRAILER)
    if body == 0:
        return CandleArrays.empty()
    if body % _ROW.itemsize:
        raise ValueError("binary COPY rows are not (timestamptz, float8 x 5)")
    rows = np.frombuffer(data, dtype=_ROW, count=body // _ROW.itemsize, offset=offset)
    if not (np.all(rows["n"] == len(_ARRAYS)) and np.all(rows["l0"] == 8)):
        raise ValueError("unexpected binary COPY row layout")
    return CandleArrays(
        open_time=rows["open_time"].astype(np.int64) // 1000 + _PG_EPOCH_MS,
        open=rows["open"].astype(np.float64),
        high=rows["high"].astype(np.float64),
        low=rows["low"].astype(np.float64),
        close=rows["close"].astype(np.float64),
        volume=rows["volume"].astype(np.float64),
    )
