"""A seeded synthetic candle series for demos, tests and benchmarks.

A geometric random walk of closes (log returns ~ N(drift, volatility)); each candle opens at
the previous close, its high and low reach beyond the body by a random wick, volume is
log-normal. Prices are whole ticks, so every relation a real candle obeys holds exactly:
0 < low <= min(open, close) <= max(open, close) <= high.

Deterministic: the same seed, start price and parameters give the same candles, and the first
k candles of a longer series are the k candles of a shorter one (all draws for candle i come
from row i of one (n, 4) normal block), so a series can be extended reproducibly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from . import intervals
from .domain import CandleData

_BLOCK = 100_000


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    seed: int = 0
    start_price: Decimal = Decimal("30000")
    tick: Decimal = Decimal("0.01")
    volume_step: Decimal = Decimal("0.00001")
    #: Per-candle log-return mean and standard deviation.
    drift: float = 0.0
    volatility: float = 0.001
    #: Mean wick beyond the body, as a fraction of price.
    wick: float = 0.0005
    #: Median volume per candle (base asset).
    volume: float = 10.0


def synthetic_candles(
    *, interval: str, start: datetime, count: int, params: SyntheticParams | None = None
) -> Iterator[CandleData]:
    """`count` consecutive candles from the candle containing `start`, oldest first."""
    p = params or SyntheticParams()
    rng = np.random.default_rng(p.seed)
    tick_exp, vol_exp = _exponent(p.tick), _exponent(p.volume_step)
    tick, step = float(p.tick), float(p.volume_step)
    close = max(round(float(p.start_price) / tick), 1)
    open_ms = intervals.open_of(intervals.to_ms(start), interval)
    done = 0
    while done < count:
        n = min(_BLOCK, count - done)
        draws = rng.standard_normal((n, 4))
        opens, highs, lows, closes = _walk(close, draws, p)
        volumes = np.rint(np.exp(np.log(p.volume) + 0.5 * draws[:, 3]) / step).astype(np.int64)
        for i in range(n):
            close_ms = intervals.close_of(open_ms, interval)
            yield CandleData(
                open_time=intervals.from_ms(open_ms),
                open=_scaled(opens[i], p.tick, tick_exp),
                high=_scaled(highs[i], p.tick, tick_exp),
                low=_scaled(lows[i], p.tick, tick_exp),
                close=_scaled(closes[i], p.tick, tick_exp),
                volume=_scaled(volumes[i], p.volume_step, vol_exp),
                close_time=intervals.from_ms(close_ms),
            )
            open_ms = close_ms + 1
        close = int(closes[-1])
        done += n


def _walk(
    first_open: int, draws: np.ndarray, p: SyntheticParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prices in ticks (int64) for one block; the walk itself is in log space."""
    log_close = np.log(first_open) + np.cumsum(p.drift + p.volatility * draws[:, 0])
    closes = np.maximum(np.rint(np.exp(log_close)), 1).astype(np.int64)
    opens = np.concatenate(([first_open], closes[:-1])).astype(np.int64)
    body_high = np.maximum(opens, closes)
    body_low = np.minimum(opens, closes)
    highs = np.ceil(body_high * (1 + p.wick * np.abs(draws[:, 1]))).astype(np.int64)
    lows = np.floor(body_low * (1 - p.wick * np.abs(draws[:, 2]))).astype(np.int64)
    lows = np.clip(lows, 1, body_low)
    return opens, np.maximum(highs, body_high), lows, closes


def _exponent(step: Decimal) -> int:
    exponent = step.as_tuple().exponent
    if not isinstance(exponent, int) or step <= 0:
        raise ValueError(f"step must be a positive finite decimal, not {step}")
    return exponent


def _scaled(units: np.integer | int, step: Decimal, exponent: int) -> Decimal:
    """`units` whole steps as an exact Decimal (steps that are powers of ten scale exactly)."""
    if step == Decimal(1).scaleb(exponent):
        return Decimal(int(units)).scaleb(exponent)
    return Decimal(int(units)) * step
