"""Binance kline intervals and where a candle of each opens and closes — the one place both
apps/candles and the exchange simulator (independent layers) compute candle boundaries.

Times are UTC. A candle covers [open_time, next open) and, as on Binance, its close time is
one millisecond before the next open. Weeks open on Mondays; months on the 1st.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: The epoch was a Thursday; Binance's weekly candles open on Mondays.
_WEEK_OFFSET_MS = 4 * DAY_MS


FIXED_MS: dict[str, int] = {
    "1s": SECOND_MS,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
MONTH = "1M"
#: A month's nominal length, for estimates only (progress, freshness); never for boundaries.
_MONTH_NOMINAL_MS = 30 * DAY_MS


def is_known(interval: str) -> bool:
    return interval == MONTH or interval in FIXED_MS


def nominal_ms(interval: str) -> int:
    """Length of one candle in ms (months: 30 days, for estimates)."""
    return _MONTH_NOMINAL_MS if interval == MONTH else FIXED_MS[interval]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (exact; sub-millisecond parts are dropped)."""
    return (moment - EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def open_of(ms: int, interval: str) -> int:
    """Open time (ms) of the candle containing the instant `ms`."""
    if interval == MONTH:
        moment = from_ms(ms)
        return to_ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))
    length = FIXED_MS[interval]
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return (ms - offset) // length * length + offset


def next_open(open_ms: int, interval: str) -> int:
    """Open time of the candle after the one opening at `open_ms`."""
    if interval == MONTH:
        moment = from_ms(open_ms)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return to_ms(datetime(year, month, 1, tzinfo=UTC))
    return open_ms + FIXED_MS[interval]


def close_of(open_ms: int, interval: str) -> int:
    """Close time of the candle opening at `open_ms` (one ms before the next open)."""
    return next_open(open_ms, interval) - 1
