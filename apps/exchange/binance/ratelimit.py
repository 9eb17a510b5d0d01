"""Rate-limit budgets fed by Binance's own headers: request weight and new-order counts.

Binance counts weight per IP per minute and tells us the running total in
`X-MBX-USED-WEIGHT-1M` on every response. Before each request we make sure it fits under the
limit (less a safety margin); if it does not, we wait for the next minute when that is short,
otherwise refuse without sending (`RateLimited`, so a task retries later). A 429/418 blocks
all requests until its `Retry-After` has passed.

New orders are counted per account in fixed 10-second and daily (UTC) windows, reported in
`X-MBX-ORDER-COUNT-10S` / `-1D` on order responses; `OrderCountBudget` keeps a new order under
both limits the same way (wait for the next window when short, else refuse without sending).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apps.exchange.errors import RateLimited


def _header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name) or headers.get(name.lower())
    return int(value) if value is not None and value.isdigit() else None


class _Budget:
    """What both budgets share: the clock, the lock, a venue-imposed block, and the loop that
    waits for room when that is short and otherwise refuses without sending."""

    def __init__(
        self, *, max_wait_seconds: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.max_wait = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def _acquire(self, reserve: Callable[[float], float | None], what: str) -> None:
        """Call `reserve(now)` under the lock until it takes its share (returns None) or names
        a wait (seconds) longer than `max_wait` (RateLimited); a block is waited out first."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._blocked_until - now
                if wait <= 0:
                    needed = reserve(now)
                    if needed is None:
                        return
                    wait = needed
            if wait > self.max_wait:
                raise RateLimited(f"{what} exhausted for {wait:.0f}s", retry_after=wait)
            self._sleep(wait)

    def block_for(self, seconds: float) -> None:
        """The venue said 429/418 (-1015 for orders): nothing until `Retry-After` has passed."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class WeightBudget(_Budget):
    def __init__(
        self,
        *,
        limit_per_minute: int = 6000,
        safety_margin: float = 0.1,
        max_wait_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(max_wait_seconds=max_wait_seconds, clock=clock, sleep=sleep)
        self.limit = limit_per_minute
        self.safety_margin = safety_margin
        self._minute = self._current_minute()
        self._used = 0

    def _current_minute(self) -> int:
        return int(self._clock() // 60)

    @property
    def used(self) -> int:
        return self._used

    def acquire(self, weight: int) -> None:
        """Reserve `weight` for the next request, waiting briefly or refusing."""

        def reserve(now: float) -> float | None:
            self._roll(now)
            if self._used + weight <= self.limit * (1 - self.safety_margin):
                self._used += weight
                return None
            return 60 - (now % 60)

        self._acquire(reserve, "request weight budget")

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the venue's count as the truth (other processes share our IP)."""
        used = _header(headers, "X-MBX-USED-WEIGHT-1M")
        if used is not None:
            with self._lock:
                self._roll(self._clock())
                self._used = used

    def _roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._used = 0


@dataclass(slots=True)
class _OrderWindow:
    """One fixed window of the venue's order count: its length, limit and what we know of it."""

    header: str
    seconds: int
    limit: int
    index: int = -1
    count: int = 0

    def count_at(self, now: float) -> int:
        return self.count if self.index == int(now // self.seconds) else 0

    def set_count(self, now: float, count: int) -> None:
        self.index, self.count = int(now // self.seconds), count

    def seconds_left(self, now: float) -> float:
        return self.seconds - now % self.seconds


class OrderCountBudget(_Budget):
    """New orders of one account under Binance's ORDERS limits (10 s and 1 day, fixed windows).

    Over a limit the venue answers 429 (-1015) and repeated 429s earn an IP ban, so an order
    that would cross a limit (less the safety margin) waits for the next window when that is
    within `max_wait_seconds`, otherwise it is refused before anything is sent. The counts in
    the venue's headers are the truth: other processes place orders for the same account.
    """

    def __init__(
        self,
        *,
        per_10_seconds: int = 50,
        per_day: int = 160_000,
        safety_margin: float = 0.1,
        max_wait_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(max_wait_seconds=max_wait_seconds, clock=clock, sleep=sleep)
        self.safety_margin = safety_margin
        self._windows = (
            _OrderWindow("X-MBX-ORDER-COUNT-10S", 10, per_10_seconds),
            _OrderWindow("X-MBX-ORDER-COUNT-1D", 86_400, per_day),
        )

    def counts(self) -> dict[str, int]:
        """The current windows' counts as we know them (header name → count)."""
        now = self._clock()
        with self._lock:
            return {w.header: w.count_at(now) for w in self._windows}

    def acquire(self) -> None:
        """Reserve one new order, waiting briefly for the next window or refusing."""

        def reserve(now: float) -> float | None:
            full = [w for w in self._windows if w.count_at(now) + 1 > self._cap(w.limit)]
            if full:
                return max(w.seconds_left(now) for w in full)
            for w in self._windows:
                w.set_count(now, w.count_at(now) + 1)
            return None

        self._acquire(reserve, "new-order budget")

    def observe(self, headers: Mapping[str, str]) -> None:
        now = self._clock()
        with self._lock:
            for w in self._windows:
                count = _header(headers, w.header)
                if count is not None:
                    w.set_count(now, count)

    def learn_limits(self, rate_limits: Iterable[Mapping[str, Any]]) -> None:
        """Take the ORDERS limits from exchangeInfo's `rateLimits` (10 SECOND and 1 DAY)."""
        lengths = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
        with self._lock:
            for entry in rate_limits:
                if entry.get("rateLimitType") != "ORDERS" or entry.get("interval") not in lengths:
                    continue
                seconds = lengths[entry["interval"]] * int(entry.get("intervalNum", 1))
                for w in self._windows:
                    if w.seconds == seconds:
                        w.limit = int(entry["limit"])

    def _cap(self, limit: int) -> int:
        return max(1, int(limit * (1 - self.safety_margin)))
