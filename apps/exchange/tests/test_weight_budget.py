from __future__ import annotations

import pytest

from apps.exchange.binance.ratelimit import WeightBudget
from apps.exchange.errors import RateLimited


class FakeClock:
    def __init__(self, now: float = 1_000_020.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(clock: FakeClock, **kwargs) -> WeightBudget:
    return WeightBudget(clock=clock, sleep=clock.sleep, **kwargs)


def test_spends_up_to_the_limit_less_the_margin_then_waits_for_the_next_minute() -> None:
    clock = FakeClock(now=60 * 1000 + 58)  # two seconds before the minute ends
    b = budget(clock, limit_per_minute=100, safety_margin=0.1)
    for _ in range(9):
        b.acquire(10)
    assert b.used == 90

    b.acquire(10)

    assert clock.slept == [2]
    assert b.used == 10


def test_refuses_without_sending_when_the_wait_is_long() -> None:
    clock = FakeClock(now=60 * 1000 + 1)
    b = budget(clock, limit_per_minute=100, max_wait_seconds=5)
    b.observe({"X-MBX-USED-WEIGHT-1M": "95"})

    with pytest.raises(RateLimited) as info:
        b.acquire(10)
    assert info.value.retry_after == pytest.approx(59)
    assert clock.slept == []


def test_venue_header_is_the_truth() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.acquire(1)
    b.observe({"X-MBX-USED-WEIGHT-1M": "4321"})
    assert b.used == 4321


def test_retry_after_blocks_every_request_until_it_passes() -> None:
    clock = FakeClock(now=60 * 1000)
    b = budget(clock, max_wait_seconds=5)
    b.block_for(3)

    b.acquire(1)

    assert clock.slept == [3]
    b.block_for(30)
    with pytest.raises(RateLimited):
        b.acquire(1)
