"""The request-weight and new-order budgets, on a fake clock."""

from __future__ import annotations

import pytest

from apps.exchange.binance.ratelimit import OrderCountBudget, WeightBudget
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


# --- new orders ----------------------------------------------------------------------------------


def orders(clock: FakeClock, **kwargs) -> OrderCountBudget:
    return OrderCountBudget(clock=clock, sleep=clock.sleep, **kwargs)


def test_new_orders_stop_short_of_the_10s_limit_and_wait_for_the_next_window() -> None:
    clock = FakeClock(now=1_000_003.0)  # 7 s before the 10 s window ends
    b = orders(clock, per_10_seconds=10, safety_margin=0.1)
    for _ in range(9):
        b.acquire()
    assert clock.slept == []

    b.acquire()  # the tenth would reach the limit itself: wait for the next window

    assert clock.slept == [pytest.approx(7)]
    assert b.counts()["X-MBX-ORDER-COUNT-10S"] == 1
    assert b.counts()["X-MBX-ORDER-COUNT-1D"] == 10


def test_the_venues_order_count_is_the_truth() -> None:
    clock = FakeClock(now=1_000_000.0)
    b = orders(clock, per_10_seconds=50, max_wait_seconds=0)
    b.acquire()
    b.observe({"X-MBX-ORDER-COUNT-10S": "45", "X-MBX-ORDER-COUNT-1D": "1200"})  # another worker's orders

    with pytest.raises(RateLimited) as info:
        b.acquire()
    assert info.value.retry_after == pytest.approx(10)
    assert b.counts() == {"X-MBX-ORDER-COUNT-10S": 45, "X-MBX-ORDER-COUNT-1D": 1200}


def test_a_full_day_refuses_without_waiting_until_midnight_utc() -> None:
    clock = FakeClock(now=86_400 * 20_000 + 3_600.0)  # 01:00 UTC
    b = orders(clock, per_day=100)
    b.observe({"X-MBX-ORDER-COUNT-1D": "90"})

    with pytest.raises(RateLimited) as info:
        b.acquire()
    assert info.value.retry_after == pytest.approx(23 * 3_600)
    assert clock.slept == []


def test_order_limits_are_learnt_from_exchange_info() -> None:
    clock = FakeClock(now=1_000_000.0)
    b = orders(clock, max_wait_seconds=0)
    b.learn_limits(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 3},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        ]
    )
    b.acquire()
    b.acquire()  # 3 less a 10% margin: two orders per 10 s

    with pytest.raises(RateLimited):
        b.acquire()


def test_a_1015_blocks_new_orders_until_retry_after() -> None:
    clock = FakeClock(now=1_000_000.0)
    b = orders(clock, max_wait_seconds=5)
    b.block_for(4)

    b.acquire()

    assert clock.slept == [4]
    b.block_for(60)
    with pytest.raises(RateLimited):
        b.acquire()
