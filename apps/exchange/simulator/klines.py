"""Candles synthesised from the simulator's own price ticks and fills.

A symbol's history starts at its first tick (when it was added), like a newly listed
symbol: there are no candles before it, so clients that look for the earliest kline
(python-binance's `get_historical_klines`) find that moment. After it, every interval has a
candle; one without ticks is flat at the last price with zero volume. Volume, quote volume and
trade count are the simulated accounts' fills in the interval; "taker buy" volume counts
fills where the market side was the taker buyer (the account bought as taker, or sold as maker).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from apps.core.domain import Side
from apps.core.intervals import is_known, next_open, open_of
from apps.exchange.matching import Trade

from .errors import BinanceError
from .wire import dec

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


def check_interval(interval: str) -> None:
    if not is_known(interval):
        raise BinanceError(400, -1120, "Invalid interval.")


bucket_open = open_of
bucket_after = next_open


def _bucket_before(open_ms: int, interval: str) -> int:
    return bucket_open(open_ms - 1, interval)


@dataclass(frozen=True, slots=True)
class _Volume:
    base: Decimal
    quote: Decimal
    count: int
    taker_buy_base: Decimal
    taker_buy_quote: Decimal


class PriceHistory:
    """One symbol's ticks, in time order (a tick stamped earlier than the last one is moved up)."""

    def __init__(self) -> None:
        self._times: list[int] = []
        self._prices: list[Decimal] = []

    def record(self, ts: int, price: Decimal) -> None:
        if self._times and ts < self._times[-1]:
            ts = self._times[-1]
        self._times.append(ts)
        self._prices.append(price)

    def __len__(self) -> int:
        return len(self._times)

    def candles(
        self,
        interval: str,
        *,
        start: int | None,
        end: int | None,
        limit: int,
        now_ms: int,
        trades: Sequence[Trade],
    ) -> list[list[object]]:
        """Binance kline rows for the interval buckets selected as GET /api/v3/klines does."""
        if not self._times:
            return []
        last = min(end if end is not None else now_ms, max(now_ms, self._times[-1]))
        return [self._row(o, interval, trades) for o in self._opens(interval, start, last, limit)]

    def _opens(self, interval: str, start: int | None, last: int, limit: int) -> list[int]:
        first = bucket_open(self._times[0], interval)
        opens: list[int] = []
        if start is not None:
            cursor = max(bucket_open(start, interval), first)
            while cursor <= last and len(opens) < limit:
                opens.append(cursor)
                cursor = bucket_after(cursor, interval)
            return opens
        cursor = bucket_open(last, interval)
        while cursor >= first and len(opens) < limit:
            opens.append(cursor)
            cursor = _bucket_before(cursor, interval)
        return opens[::-1]

    def _row(self, open_ms: int, interval: str, trades: Sequence[Trade]) -> list[object]:
        close_ms = bucket_after(open_ms, interval)
        lo, hi = bisect_left(self._times, open_ms), bisect_left(self._times, close_ms)
        if lo < hi:
            prices = self._prices[lo:hi]
            o, h, low, c = prices[0], max(prices), min(prices), prices[-1]
        else:
            o = h = low = c = self._prices[max(lo - 1, 0)]
        volume = _volume(trades, open_ms, close_ms)
        return [
            open_ms,
            dec(o),
            dec(h),
            dec(low),
            dec(c),
            dec(volume.base),
            close_ms - 1,
            dec(volume.quote),
            volume.count,
            dec(volume.taker_buy_base),
            dec(volume.taker_buy_quote),
            "0",
        ]


def _volume(trades: Sequence[Trade], open_ms: int, close_ms: int) -> _Volume:
    lo = bisect_left(trades, open_ms, key=lambda t: t.time_ms)
    hi = bisect_left(trades, close_ms, key=lambda t: t.time_ms)
    window = trades[lo:hi]
    taker_buys = [t for t in window if (t.side == Side.BUY) != t.is_maker]
    return _Volume(
        base=sum((t.quantity for t in window), Decimal(0)),
        quote=sum((t.quote_quantity for t in window), Decimal(0)),
        count=len(window),
        taker_buy_base=sum((t.quantity for t in taker_buys), Decimal(0)),
        taker_buy_quote=sum((t.quote_quantity for t in taker_buys), Decimal(0)),
    )
