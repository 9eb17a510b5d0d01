"""Binance's rate limits: request weight per IP per minute, new orders per account per 10 s / day.

Fixed windows aligned to the clock (Binance resets the counters on the interval boundary);
`Retry-After` is the whole seconds until the window ends. Every request is counted, also the
ones refused for going over, as Binance does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import too_many_orders, too_much_weight

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class OrderCounts:
    ten_seconds: int
    day: int


class _Window:
    """Counts per key inside the current fixed window."""

    def __init__(self, length_ms: int) -> None:
        self.length_ms = length_ms
        self._counts: dict[str, tuple[int, int]] = {}

    def add(self, key: str, amount: int, now_ms: int) -> int:
        window = now_ms // self.length_ms
        start, count = self._counts.get(key, (window, 0))
        count = count + amount if start == window else amount
        self._counts[key] = (window, count)
        return count

    def peek(self, key: str, now_ms: int) -> int:
        window, count = self._counts.get(key, (-1, 0))
        return count if window == now_ms // self.length_ms else 0

    def retry_after(self, now_ms: int) -> int:
        left_ms = self.length_ms - now_ms % self.length_ms
        return max(1, -(-left_ms // 1000))


class RateLimiter:
    def __init__(self, *, weight_per_minute: int, orders_per_10s: int, orders_per_day: int) -> None:
        self.weight_per_minute = weight_per_minute
        self.orders_per_10s = orders_per_10s
        self.orders_per_day = orders_per_day
        self._weight = _Window(MINUTE_MS)
        self._orders_10s = _Window(TEN_SECONDS_MS)
        self._orders_day = _Window(DAY_MS)
        self._lock = threading.Lock()

    def charge_weight(self, ip: str, weight: int, now_ms: int) -> int:
        """Add the request's weight; return the minute's total or raise -1003 (HTTP 429)."""
        with self._lock:
            used = self._weight.add(ip, weight, now_ms)
        if used > self.weight_per_minute:
            raise too_much_weight(self.weight_per_minute, self._weight.retry_after(now_ms))
        return used

    def used_weight(self, ip: str, now_ms: int) -> int:
        with self._lock:
            return self._weight.peek(ip, now_ms)

    def charge_order(self, account: str, now_ms: int) -> OrderCounts:
        """Count a new order; return the counts or raise -1015 (HTTP 429)."""
        with self._lock:
            counts = OrderCounts(
                self._orders_10s.add(account, 1, now_ms), self._orders_day.add(account, 1, now_ms)
            )
        if counts.ten_seconds > self.orders_per_10s:
            raise too_many_orders(self.orders_per_10s, "10 SECOND", self._orders_10s.retry_after(now_ms))
        if counts.day > self.orders_per_day:
            raise too_many_orders(self.orders_per_day, "DAY", self._orders_day.retry_after(now_ms))
        return counts

    def order_counts(self, account: str, now_ms: int) -> OrderCounts:
        with self._lock:
            return OrderCounts(self._orders_10s.peek(account, now_ms), self._orders_day.peek(account, now_ms))

    def exchange_info(self) -> list[dict[str, object]]:
        """The `rateLimits` block of exchangeInfo."""
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.orders_per_10s,
            },
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": self.orders_per_day},
        ]

    def ws_rate_limits(self, ip: str, now_ms: int) -> list[dict[str, object]]:
        """The `rateLimits` block of a WebSocket API response (current usage)."""
        return [{**self.exchange_info()[0], "count": self.used_weight(ip, now_ms)}]
