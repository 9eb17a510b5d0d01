"""Request-weight budget for one process, fed by Binance's own headers.

Binance counts weight per IP per minute and tells us the running total in
`X-MBX-USED-WEIGHT-1M` on every response. Before each request we make sure it fits under the
limit (less a safety margin); if it does not, we wait for the next minute when that is short,
otherwise refuse without sending (`RateLimited`, so a task retries later). A 429/418 blocks
all requests until its `Retry-After` has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from apps.exchange.errors import RateLimited


class WeightBudget:
    def __init__(
        self,
        *,
        limit_per_minute: int = 6000,
        safety_margin: float = 0.1,
        max_wait_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit_per_minute
        self.safety_margin = safety_margin
        self.max_wait = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._minute = self._current_minute()
        self._used = 0
        self._blocked_until = 0.0

    def _current_minute(self) -> int:
        return int(self._clock() // 60)

    @property
    def used(self) -> int:
        return self._used

    def acquire(self, weight: int) -> None:
        """Reserve `weight` for the next request, waiting briefly or refusing."""
        while True:
            with self._lock:
                now = self._clock()
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    self._roll(now)
                    if self._used + weight <= self.limit * (1 - self.safety_margin):
                        self._used += weight
                        return
                    wait = 60 - (now % 60)
            if wait > self.max_wait:
                raise RateLimited(f"request weight budget exhausted for {wait:.0f}s", retry_after=wait)
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the venue's count as the truth (other processes share our IP)."""
        value = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if value is not None and value.isdigit():
            with self._lock:
                self._roll(self._clock())
                self._used = int(value)

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def _roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._used = 0
