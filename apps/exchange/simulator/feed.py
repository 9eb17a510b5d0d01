"""A seeded random-walk price feed on the tick grid (Decimal; the same seed, the same path)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal


class RandomWalk:
    """Each step moves the price by a whole number of ticks, up to about `step_bps` of it."""

    def __init__(self, *, start: Decimal, tick: Decimal, seed: int, step_bps: Decimal = Decimal(10)) -> None:
        if tick <= 0 or start <= 0:
            raise ValueError("start and tick must be positive")
        self.price = start
        self.tick = tick
        self.step_bps = step_bps
        # A deterministic simulation, not security: the standard generator is what we want.
        self._rng = random.Random(seed)  # noqa: S311

    def step(self) -> Decimal:
        span = int((self.price * self.step_bps / Decimal(10000) / self.tick).to_integral_value(ROUND_DOWN))
        move = self._rng.randint(-max(span, 1), max(span, 1))
        self.price = max(self.tick, self.price + self.tick * move)
        return self.price

    def __iter__(self) -> Iterator[Decimal]:
        while True:
            yield self.step()
