"""Candles' write API: bulk upsert, and the checks every importer applies before writing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from apps.core.decimals import DECIMAL_PLACES, ensure_storable
from apps.core.errors import ValidationFailed

from . import intervals
from .domain import CandleData
from .models import Candle

_STAGE = "candles_upsert_stage"
_PRICES = ("open", "high", "low", "close", "volume")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,32}$")
#: Rows per COPY write: large enough to amortise the call, small enough to stream.
_COPY_CHUNK = 5000


def check_series(*, symbol: str, interval: str) -> None:
    """Refuse a series name the table could store but nothing could trade."""
    if not _SYMBOL.match(symbol):
        raise ValidationFailed(f"invalid symbol {symbol!r}.", field="symbol")
    if not intervals.is_valid(interval):
        raise ValidationFailed(f"unknown interval {interval!r}.", field="interval")


def check_candle(candle: CandleData, *, interval: str) -> None:
    """Refuse a candle that is not a candle (the same rules `upsert_candles` applies in SQL).

    The open time must sit on the interval's grid: a misread timestamp unit (µs for ms) or a
    candle filed under the wrong interval is caught here rather than stored.
    """
    for name in _PRICES:
        ensure_storable(getattr(candle, name), field=name)
    if candle.low <= 0:
        raise ValidationFailed("low must be positive.", field="low")
    if candle.volume < 0:
        raise ValidationFailed("volume must not be negative.", field="volume")
    if not candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close) <= candle.high:
        raise ValidationFailed("open and close must lie between low and high.", field="high")
    _check_times(candle, interval)


def _check_times(candle: CandleData, interval: str) -> None:
    if candle.open_time.tzinfo is None or candle.close_time.tzinfo is None:
        raise ValidationFailed("candle times must be timezone-aware (UTC).", field="open_time")
    if candle.close_time <= candle.open_time:
        raise ValidationFailed("close_time must be after open_time.", field="close_time")
    open_ms = intervals.to_ms(candle.open_time)
    if intervals.open_of(open_ms, interval) != open_ms:
        raise ValidationFailed(
            f"open_time {candle.open_time.isoformat()} is not the start of a {interval} candle.",
            field="open_time",
        )


def upsert_candles(*, symbol: str, interval: str, candles: Iterable[CandleData]) -> int:
    """Store the candles of one series; returns how many rows were inserted or changed.

    Idempotent: a candle equal to the stored one is not rewritten (and not counted), a revised
    one (Binance revises the last candle until it closes) replaces the stored values. When
    the input repeats an open time the last one wins. Every candle is checked (the rules of
    `check_candle`: times in Python, values in one SQL pass over the staged rows); one bad
    candle writes nothing (one transaction).

    Rows stream through COPY into a temporary table, then one INSERT … ON CONFLICT DO UPDATE
    moves them: no round trip per row (bench/candles_load.py: about 65,000 new rows a second
    on two CPUs, most of it PostgreSQL's index and heap work).
    """
    check_series(symbol=symbol, interval=interval)
    table = Candle._meta.db_table
    columns = "open_time, open, high, low, close, volume, close_time"
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in (*_PRICES, "close_time"))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_PRICES, "close_time"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # DISTINCT ON sorts the batch in memory
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_STAGE} (seq int8, open_time timestamptz, open numeric, "
            "high numeric, low numeric, close numeric, volume numeric, close_time timestamptz) "
            "ON COMMIT DROP"
        )
        staged = _stage(cursor.cursor, candles, interval=interval)  # psycopg 3: COPY is not DB-API
        written = 0
        if staged:
            _refuse_bad_rows(cursor)
            cursor.execute(
                f"INSERT INTO {table} AS t (symbol, interval, {columns}) "  # noqa: S608 - fixed names
                f"SELECT DISTINCT ON (open_time) %s, %s, {columns} FROM {_STAGE} "
                "ORDER BY open_time, seq DESC "
                f"ON CONFLICT (symbol, interval, open_time) DO UPDATE SET {updates} WHERE {changed}",
                [symbol, interval],
            )
            written = cursor.rowcount
        cursor.execute(f"DROP TABLE {_STAGE}")
    return written


#: (field, message, SQL condition that a good row meets), checked in this order. NaN sorts
#: above every number and ±Infinity bound the rest, so the comparisons also refuse those;
#: scale() of NaN or Infinity is NULL.
_ROW_RULES = (
    *(
        (
            name,
            f"{name} must be a finite number with at most {DECIMAL_PLACES} decimal places.",
            f"coalesce(scale({name}), 99) <= {DECIMAL_PLACES}",
        )
        for name in _PRICES
    ),
    ("high", "high is too large.", "high < 1e20"),
    ("volume", "volume is too large.", "volume < 1e20"),
    ("low", "low must be positive.", "low > 0"),
    ("volume", "volume must not be negative.", "volume >= 0"),
    (
        "high",
        "open and close must lie between low and high.",
        "low <= least(open, close) AND greatest(open, close) <= high",
    ),
)


def _refuse_bad_rows(cursor: CursorWrapper) -> None:
    """Check every staged row in one set-based query (the per-row Python checks cost more
    than the write); the first bad row in input order is reported."""
    cases = " ".join(f"WHEN NOT ({rule}) THEN {i}" for i, (_, _, rule) in enumerate(_ROW_RULES))
    every = " AND ".join(f"({rule})" for _, _, rule in _ROW_RULES)
    cursor.execute(
        f"SELECT open_time, CASE {cases} END FROM {_STAGE} WHERE NOT ({every}) ORDER BY seq LIMIT 1"  # noqa: S608
    )
    bad = cursor.fetchone()
    if bad is not None:
        open_time, rule = bad
        field, message, _ = _ROW_RULES[rule]
        raise ValidationFailed(f"candle at {open_time.isoformat()}: {message}", field=field)


def _stage(raw_cursor: object, candles: Iterable[CandleData], *, interval: str) -> int:
    """COPY the checked candles into the stage table; returns how many were given."""
    count = 0
    lines: list[str] = []
    with raw_cursor.copy(  # type: ignore[attr-defined]
        f"COPY {_STAGE} (seq, open_time, open, high, low, close, volume, close_time) FROM STDIN"
    ) as copy:
        for candle in candles:
            _check_times(candle, interval)
            lines.append(
                f"{count}\t{candle.open_time.isoformat()}\t{candle.open}\t{candle.high}\t{candle.low}\t"
                f"{candle.close}\t{candle.volume}\t{candle.close_time.isoformat()}\n"
            )
            count += 1
            if len(lines) >= _COPY_CHUNK:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    return count


def delete_series(*, symbol: str, interval: str, before: datetime | None = None) -> int:
    """Delete a series (or its candles opening before `before`); returns the rows deleted."""
    rows = Candle.objects.filter(symbol=symbol, interval=interval)
    if before is not None:
        rows = rows.filter(open_time__lt=before)
    deleted, _ = rows.delete()
    return deleted


def refresh_statistics() -> None:
    """ANALYZE the candle table after a large import, so range reads plan as index scans
    (stale statistics make PostgreSQL sort a whole series instead)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Candle._meta.db_table}")
