"""Test helpers: candle arrays from tuples, a scripted runtime, synthetic series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from apps.backtest.engine.broker import SimulatedBroker
from apps.backtest.engine.simulator import Simulation, SimulationResult, SimulationSettings
from apps.candles import intervals
from apps.candles.domain import CandleArrays
from apps.candles.synthetic import SyntheticParams, synthetic_candles
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.exchange.matching import FeeSchedule
from apps.strategy.runtime.types import (
    CancelIntent,
    CandleBar,
    FillReport,
    Intent,
    OrderUpdate,
    PlaceIntent,
    QuietBand,
)

FILTERS = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    max_qty=Decimal("9000"),
    min_notional=Decimal("5"),
)
START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = intervals.to_ms(START)
MINUTE = 60_000
FEES = FeeSchedule(maker=Decimal("0.001"), taker=Decimal("0.002"))


def arrays(rows: Sequence[tuple[float, float, float, float]], interval_ms: int = MINUTE) -> CandleArrays:
    """Candles from (open, high, low, close), one minute apart from START."""
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    n = len(data)
    return CandleArrays(
        open_time=START_MS + np.arange(n, dtype=np.int64) * interval_ms,
        open=data[:, 0].copy(),
        high=data[:, 1].copy(),
        low=data[:, 2].copy(),
        close=data[:, 3].copy(),
        volume=np.ones(n),
    )


def synthetic(count: int, *, seed: int = 1, interval: str = "1m", volatility: float = 0.002) -> CandleArrays:
    rows = list(
        synthetic_candles(
            interval=interval,
            start=START,
            count=count,
            params=SyntheticParams(seed=seed, volatility=volatility),
        )
    )
    return CandleArrays(
        open_time=np.asarray([intervals.to_ms(r.open_time) for r in rows], dtype=np.int64),
        open=np.asarray([float(r.open) for r in rows]),
        high=np.asarray([float(r.high) for r in rows]),
        low=np.asarray([float(r.low) for r in rows]),
        close=np.asarray([float(r.close) for r in rows]),
        volume=np.asarray([float(r.volume) for r in rows]),
    )


def buy(cid: str, qty: str, price: str | None = None) -> PlaceIntent:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return PlaceIntent(cid, Side.BUY, kind, Decimal(qty), Decimal(price) if price else None, tag=cid)


def sell(cid: str, qty: str, price: str | None = None) -> PlaceIntent:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return PlaceIntent(cid, Side.SELL, kind, Decimal(qty), Decimal(price) if price else None, tag=cid)


@dataclass
class ScriptedRuntime:
    """Emits given intents after given candles (by index), and on fills of given orders."""

    on_close: dict[int, list[Intent]] = field(default_factory=dict)
    on_filled: dict[str, list[Intent]] = field(default_factory=dict)
    quiet: bool = False
    candles_seen: list[CandleBar] = field(default_factory=list)
    last_index: int = -1
    fills: list[FillReport] = field(default_factory=list)
    updates: list[OrderUpdate] = field(default_factory=list)

    def on_candle(self, bar: CandleBar) -> list[Intent]:
        self.candles_seen.append(bar)
        index = (intervals.to_ms(bar.open_time) - START_MS) // MINUTE
        self.last_index = index
        return list(self.on_close.get(index, []))

    def on_fill(self, fill: FillReport) -> list[Intent]:
        self.fills.append(fill)
        return list(self.on_filled.pop(fill.client_order_id, []))

    def on_order_update(self, update: OrderUpdate) -> list[Intent]:
        self.updates.append(update)
        return []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def quiet_band(self) -> QuietBand | None:
        if not self.quiet:
            return None
        pending = [k for k in self.on_close if k > self.last_index]
        return None if pending else QuietBand(None, None)

    @property
    def finished(self) -> bool:
        return False


def run_scripted(
    runtime: ScriptedRuntime, candles: CandleArrays, *, slippage_bps: str = "0", initial: str = "10000"
) -> SimulationResult:
    broker = SimulatedBroker(
        runtime=runtime,
        filters=FILTERS,
        fees=FEES,
        slippage_bps=Decimal(slippage_bps),
        initial_quote=Decimal(initial),
    )
    settings = SimulationSettings(
        interval="1m", fees=FEES, slippage_bps=Decimal(slippage_bps), initial_quote=Decimal(initial)
    )
    return Simulation(runtime=runtime, broker=broker, candles=candles, settings=settings).run()


__all__ = ["FEES", "FILTERS", "CancelIntent", "ScriptedRuntime", "arrays", "buy", "sell", "synthetic"]
