"""Swing runtime: DSL entries and exits on closed candles, stops, and its candle window."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np

from apps.candles.domain import CandleArrays
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.strategy.configs import SizingMode, SwingConfig
from apps.strategy.dsl import Series, compile_rule
from apps.strategy.runtime import PlaceIntent, build_runtime
from apps.strategy.runtime.harness import Replay, candle
from apps.strategy.runtime.swing import SwingRuntime, epoch_ms

D = Decimal
FILTERS = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.0001"),
    min_notional=D("5"),
)
CLOSES = [100, 100, 100, 101, 102, 103, 102, 101, 100, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 90]


BASE = SwingConfig(
    entry="close > sma(close, 3)",
    exit="close < sma(close, 3) or bars_in_trade >= 5",
    sizing_mode=SizingMode.QUOTE,
    sizing_value=D(100),
    stop_loss_pct=D(10),
)


def swing(**overrides: Any) -> SwingConfig:
    return replace(BASE, **overrides)


def runtime(cfg: SwingConfig, **kwargs) -> SwingRuntime:
    built = build_runtime(strategy_id=9, kind="SWING", config=cfg, filters=FILTERS, **kwargs)
    assert isinstance(built, SwingRuntime)
    return built


def bars(closes=CLOSES):
    return [candle(i, c, c, c, c) for i, c in enumerate(closes)]


def places(intents) -> list[tuple]:
    return [(i.side, i.order_type, i.quantity, i.tag) for i in intents if isinstance(i, PlaceIntent)]


def test_entries_exits_and_stop_loss() -> None:
    """Entry when close > SMA3 while flat; exit when close < SMA3, after 5 bars in the trade
    (0 on the candle the entry filled), or at the 10 % stop; MARKET orders sized 100 USDT."""
    replay = Replay(runtime(swing()), FILTERS, {"USDT": D(1000)}).run(bars())
    assert places(replay.intents) == [
        (Side.BUY, OrderType.MARKET, D("0.9900"), "swing:entry"),  # close 101 > 100.33
        (Side.SELL, OrderType.MARKET, D("0.9900"), "swing:exit:rule"),  # 102 < 102.33
        (Side.BUY, OrderType.MARKET, D("1.0000"), "swing:entry"),  # 100 > 99.67
        (Side.SELL, OrderType.MARKET, D("1.0000"), "swing:exit:rule"),  # 5 bars later, at 106
        (Side.BUY, OrderType.MARKET, D("0.9345"), "swing:entry"),  # at 107
        (Side.SELL, OrderType.MARKET, D("0.9345"), "swing:exit:stop_loss"),  # 90 <= 96.30
    ]
    assert [f.price for f in replay.fills] == [D(101), D(102), D(100), D(106), D(107), D(90)]
    usdt = replay.engine.balances(replay.account)["USDT"].free
    # -99.99 +100.98, -100 +106, -99.9915 +84.105
    assert usdt == D(1000) + D("0.99") + D(6) - D("15.8865")
    assert replay.runtime.snapshot()["trades_closed"] == 3


def test_signals_path_matches_rule_evaluation() -> None:
    """The backtester may evaluate the rules vectorized and call on_candle_with_signals."""
    cfg = swing(exit="close < sma(close, 3)", stop_loss_pct=None)
    prices = np.array(CLOSES, dtype=np.float64)
    series = Series(open=prices, high=prices, low=prices, close=prices, volume=np.ones(len(CLOSES)))
    entry = compile_rule(cfg.entry).evaluate_vectorized(series)
    exit_ = compile_rule(cfg.exit).evaluate_vectorized(series)

    class SignalDriven:
        def __init__(self, inner: SwingRuntime) -> None:
            self.inner, self.i = inner, 0

        def on_candle(self, bar):
            out = self.inner.on_candle_with_signals(bar, entry=bool(entry[self.i]), exit_=bool(exit_[self.i]))
            self.i += 1
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    by_rules = Replay(runtime(cfg), FILTERS, {"USDT": D(1000)}).run(bars())
    by_signals = Replay(SignalDriven(runtime(cfg)), FILTERS, {"USDT": D(1000)}).run(bars())
    assert len(by_rules.intents) >= 4
    assert by_rules.log == by_signals.log


def test_restore_takes_history_up_to_the_last_processed_candle() -> None:
    cfg = swing()
    all_bars = bars()
    first = runtime(cfg)
    for bar in all_bars[:10]:
        first.on_candle(bar)
    arrays = CandleArrays(
        open_time=np.array([epoch_ms(b.open_time) for b in all_bars], dtype=np.int64),
        open=np.array([float(b.open) for b in all_bars]),
        high=np.array([float(b.high) for b in all_bars]),
        low=np.array([float(b.low) for b in all_bars]),
        close=np.array([float(b.close) for b in all_bars]),
        volume=np.ones(len(all_bars)),
    )
    restored = runtime(cfg, state=first.snapshot(), history=arrays)
    assert restored.window_length == min(10, restored.window_size)
    for bar in all_bars[10:]:
        assert restored.on_candle(bar) == first.on_candle(bar)
    assert restored.snapshot() == first.snapshot()
