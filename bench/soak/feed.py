"""The fast-replayed market: a seeded, mean-reverting walk of one-minute candles per symbol.

Each candle moves the simulator's price along its path (open, the nearer extreme, the other,
close — the matching engine's convention) and is then stored in the candle table, as the
engine's candle poller would store it. Candles are stamped in the past (the replay starts a
day back), so every one the engine sees is already closed; one is produced every
`seconds_per_candle` of wall time, far faster than real time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from apps.candles.domain import CandleData
from apps.candles.services import upsert_candles
from apps.exchange.matching import candle_path
from apps.exchange.simulator.server import SimulatorServer

MINUTE = timedelta(minutes=1)


@dataclass
class Walk:
    symbol: str
    center: Decimal
    tick: Decimal
    volatility: Decimal  # typical move per candle, as a fraction of the price
    stored: bool  # stored in the candle table (a strategy trades it) or only a venue price
    price: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.price = self.center

    def next_candle(self, rng: random.Random, open_time: datetime) -> CandleData:
        pull = (self.center - self.price) * Decimal("0.15")
        noise = self.price * self.volatility * Decimal(str(round(rng.gauss(0, 1), 6)))
        open_, close = self.price, self._tick(self.price + pull + noise)
        wick = self.price * self.volatility * Decimal(str(round(abs(rng.gauss(0, 0.5)), 6)))
        high = self._tick(max(open_, close) + wick)
        low = self._tick(min(open_, close) - wick)
        self.price = close
        return CandleData(
            open_time=open_time, open=open_, high=high, low=low, close=close, volume=Decimal(1),
            close_time=open_time + MINUTE - timedelta(milliseconds=1),
        )  # fmt: skip

    def _tick(self, value: Decimal) -> Decimal:
        return (value / self.tick).to_integral_value(ROUND_HALF_UP) * self.tick


class Feed:
    def __init__(self, sim: SimulatorServer, walks: list[Walk], *, seed: int, start: datetime) -> None:
        self.sim = sim
        self.walks = walks
        self.rng = random.Random(seed)  # noqa: S311 - a replayable market, not security
        self.next_open = start.replace(second=0, microsecond=0, tzinfo=UTC)
        self.candles = 0

    def warm_up(self, count: int) -> None:
        """History before the strategies start: stored, never traded on."""
        for _ in range(count):
            self._candle(move_market=False)

    def step(self) -> None:
        self._candle(move_market=True)
        self.candles += 1

    @property
    def last_close_time(self) -> datetime:
        return self.next_open - timedelta(milliseconds=1)

    def _candle(self, *, move_market: bool) -> None:
        for walk in self.walks:
            candle = walk.next_candle(self.rng, self.next_open)
            if move_market:
                for price in candle_path(candle.open, candle.high, candle.low, candle.close):
                    self.sim.set_price(walk.symbol, price)
            if walk.stored:
                upsert_candles(symbol=walk.symbol, interval="1m", candles=[candle])
        self.next_open += MINUTE
