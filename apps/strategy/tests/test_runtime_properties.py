"""Properties of every runtime over random candles and fills (hypothesis):

- snapshot/restore is exact: a runtime rebuilt from a JSON round trip of its snapshot after
  every single call makes the same decisions as one that never stopped;
- the QuietBand promise holds (inside the band `on_candle` changes nothing);
- every intent is already quantized (it passes the filters without snapping), client order
  ids are unique and Binance-valid, and no sell ever asks for base the strategy does not hold.
"""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderType, SymbolFilters, conform_to_filters
from apps.exchange.matching import INSUFFICIENT_BALANCE, FeeSchedule
from apps.strategy.configs import (
    DcaConfig,
    GridConfig,
    GridSpacing,
    SizingMode,
    StrategyConfig,
    StrategyKind,
    SwingConfig,
    TakeProfitStep,
)
from apps.strategy.runtime import PlaceIntent, build_runtime
from apps.strategy.runtime.harness import Replay, candle

D = Decimal
FILTERS = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.0001"),
    min_notional=D("5"),
)
CONFIGS: dict[str, tuple[StrategyKind, StrategyConfig]] = {
    "dca": (
        StrategyKind.DCA,
        DcaConfig(
            base_order_quote=D(100),
            safety_order_quote=D(50),
            max_safety_orders=4,
            max_active_safety_orders=2,
            price_deviation_pct=D("1.5"),
            step_scale=D("1.3"),
            volume_scale=D("1.5"),
            take_profit=(TakeProfitStep(D(1), D("0.4")), TakeProfitStep(D(2), D("0.6"))),
            stop_loss_pct=D(8),
            move_to_breakeven=True,
            cooldown_bars=2,
        ),
    ),
    "dca_trailing": (
        StrategyKind.DCA,
        DcaConfig(
            base_order_quote=D(80),
            safety_order_quote=D(40),
            max_safety_orders=3,
            max_active_safety_orders=1,
            price_deviation_pct=D(1),
            step_scale=D(1),
            volume_scale=D(2),
            take_profit=(TakeProfitStep(D("1.5"), D(1)),),
            trailing_take_profit_pct=D("0.5"),
        ),
    ),
    "grid": (
        StrategyKind.GRID,
        GridConfig(
            lower_price=D(92),
            upper_price=D(108),
            levels=9,
            spacing=GridSpacing.GEOMETRIC,
            total_investment_quote=D(800),
            trailing_up=True,
            trailing_down=True,
        ),
    ),
    "grid_bounded": (
        StrategyKind.GRID,
        GridConfig(
            lower_price=D(95),
            upper_price=D(105),
            levels=6,
            spacing=GridSpacing.ARITHMETIC,
            quantity_per_level=D("0.15"),
            stop_loss_price=D(88),
            take_profit_price=D(113),
        ),
    ),
    "swing": (
        StrategyKind.SWING,
        SwingConfig(
            entry="close > sma(close, 3) and close > open",
            exit="close < sma(close, 4) or pnl_pct > 2.5 or bars_in_trade >= 6",
            sizing_mode=SizingMode.BASE,
            sizing_value=D("0.8"),
            stop_loss_pct=D(3),
            take_profit_pct=D(6),
        ),
    ),
}
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")


@st.composite
def candles(draw):
    """A random walk from 100 (moves of up to 3 % a candle) with random wicks."""
    moves = draw(st.lists(st.integers(-30, 30), min_size=5, max_size=70))
    out, close = [], D(100)
    for i, move in enumerate(moves):
        open_ = close
        close = (open_ * (1 + D(move) / 1000)).quantize(D("0.01"))
        wick_up, wick_down = draw(st.integers(0, 15)), draw(st.integers(0, 15))
        high = (max(open_, close) * (1 + D(wick_up) / 1000)).quantize(D("0.01"))
        low = (min(open_, close) * (1 - D(wick_down) / 1000)).quantize(D("0.01"))
        out.append(candle(i, open_, high, low, close))
    return out


def replay(name: str, bars, *, liquidity, fees, restart: bool) -> Replay:
    kind, config = CONFIGS[name]

    def build(state=None, history=()):
        return build_runtime(
            strategy_id=42, kind=kind, config=config, filters=FILTERS, state=state, history=history
        )

    return Replay(
        build(),
        FILTERS,
        {"USDT": D(100000)},
        fees=fees,
        liquidity_per_tick=liquidity,
        rebuild=(lambda state, seen: build(state, seen)) if restart else None,
        check_quiet=not restart,
    ).run(bars)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(CONFIGS)),
    bars=candles(),
    liquidity=st.sampled_from([None, D("0.05"), D("0.3")]),
    fees=st.sampled_from([FeeSchedule(D(0), D(0)), FeeSchedule()]),
)
def test_restore_after_every_call_gives_the_same_decisions(name, bars, liquidity, fees) -> None:
    straight = replay(name, bars, liquidity=liquidity, fees=fees, restart=False)
    restarted = replay(name, bars, liquidity=liquidity, fees=fees, restart=True)
    assert restarted.log == straight.log
    assert restarted.runtime.snapshot() == straight.runtime.snapshot()

    placed = [i for i in straight.intents if isinstance(i, PlaceIntent)]
    ids = [i.client_order_id for i in placed]
    assert len(ids) == len(set(ids))
    assert all(CLIENT_ID.fullmatch(cid) for cid in ids)
    for intent in placed:
        price = intent.price if intent.order_type == OrderType.LIMIT else None
        conformed = conform_to_filters(FILTERS, side=intent.side, quantity=intent.quantity, price=price)
        assert (conformed.quantity, conformed.price) == (intent.quantity, price)
    assert not [r for r in straight.rejections if r[2] == INSUFFICIENT_BALANCE]
