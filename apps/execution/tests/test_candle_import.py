"""import_candles through the registered "binance" source against the local simulator's
GET /api/v3/klines (the same BinanceSpot adapter and wire format as live)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from apps.candles import importers, intervals, selectors
from apps.candles.domain import CandleData
from apps.candles.sources import kline_source
from apps.exchange.simulator.server import SimulatorServer
from apps.execution.models import ExchangeAccount

pytestmark = pytest.mark.django_db
MINUTES = 2600


def _history(sim: SimulatorServer) -> tuple[int, list[tuple[int, Decimal]]]:
    """Ticks every 15 s for MINUTES minutes, starting two days ago on a minute boundary."""
    base = intervals.open_of(int(time.time() * 1000) - 2 * intervals.DAY_MS, "1m")
    rng = random.Random(3)  # noqa: S311 - a reproducible price path
    price, ticks = 30000.0, []
    for i in range(MINUTES * 4):
        price *= 1 + rng.gauss(0, 0.0005)
        ticks.append((base + i * 15_000, Decimal(f"{price:.2f}")))
    sim.record_history("BTCUSDT", ticks)
    return base, ticks


def _expected(base: int, ticks: list[tuple[int, Decimal]]) -> list[CandleData]:
    """The candles the ticks make (no fills, so no volume), computed here independently."""
    out = []
    for minute in range(MINUTES):
        prices = [p for ts, p in ticks if base + minute * 60_000 <= ts < base + (minute + 1) * 60_000]
        open_ms = base + minute * 60_000
        out.append(
            CandleData(
                open_time=intervals.from_ms(open_ms),
                open=prices[0],
                high=max(prices),
                low=min(prices),
                close=prices[-1],
                volume=Decimal(0),
                close_time=intervals.from_ms(open_ms + 59_999),
            )
        )
    return out


def test_import_from_the_simulator_is_paginated_and_resumable(
    sim: SimulatorServer, account: ExchangeAccount
) -> None:
    base, ticks = _history(sim)
    source = kline_source("binance", {"account": str(account.pk)})
    start = intervals.from_ms(base)

    first = importers.import_from_source(
        source=source, symbol="BTCUSDT", interval="1m", start=start, end=start + timedelta(minutes=1500)
    )
    assert (first.requests, first.written) == (2, 1500)

    rest = importers.import_from_source(
        source=source, symbol="BTCUSDT", interval="1m", start=start, end=start + timedelta(minutes=MINUTES)
    )
    assert rest.first_open_time == start + timedelta(minutes=1500)  # resumed after the last stored
    assert (rest.requests, rest.written) == (2, MINUTES - 1500)

    assert selectors.candles_between(symbol="BTCUSDT", interval="1m") == _expected(base, ticks)


def test_import_command_with_a_simulated_mode_and_no_account(sim: SimulatorServer) -> None:
    base, ticks = _history(sim)
    start = intervals.from_ms(base)
    end = start + timedelta(minutes=MINUTES)
    out = StringIO()
    args = ["import_candles", "binance", "--mode", ExchangeAccount.Mode.SIMULATED, "--symbol", "BTCUSDT"]
    args += ["--interval", "1m", "--start", start.isoformat(), "--end", end.isoformat(), "--no-progress"]
    call_command(*args, stdout=out)
    assert f"{MINUTES} written" in out.getvalue()
    call_command(*args, stdout=out)  # nothing new
    assert "0 candles received, 0 written" in out.getvalue()
    assert selectors.candles_between(symbol="BTCUSDT", interval="1m") == _expected(base, ticks)


def test_the_candle_in_progress_is_not_stored(sim: SimulatorServer, account: ExchangeAccount) -> None:
    """The simulator serves candles up to now; the current one is still changing."""
    now_ms = int(time.time() * 1000)
    sim.record_history(
        "BTCUSDT", [(now_ms - 10 * 60_000 + i * 1000, Decimal("30000") + i) for i in range(600)]
    )
    source = kline_source("binance", {"account": str(account.pk)})
    report = importers.import_from_source(
        source=source, symbol="BTCUSDT", interval="1m", start=intervals.from_ms(now_ms - 11 * 60_000)
    )
    latest = selectors.latest_candle(symbol="BTCUSDT", interval="1m")
    assert latest is not None
    assert latest.close_time < intervals.from_ms(int(time.time() * 1000))
    assert report.written >= 9
