from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import factory

from apps.candles import intervals
from apps.candles.domain import CandleData
from apps.candles.services import upsert_candles
from apps.core.tests.factories import UserFactory
from apps.execution.tests.factories import AccountFactory
from apps.strategy.models import Strategy, StrategyStatus


def dca_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_order_quote": "10",
        "safety_order_quote": "20",
        "max_safety_orders": 3,
        "max_active_safety_orders": 2,
        "price_deviation_pct": "2",
        "step_scale": "2",
        "volume_scale": "2",
        "take_profit": [{"pct": "1", "close_fraction": "0.5"}, {"pct": "2", "close_fraction": "0.5"}],
    }
    config.update(overrides)
    return config


def grid_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "lower_price": "20000",
        "upper_price": "40000",
        "levels": 5,
        "spacing": "arithmetic",
        "quantity_per_level": "0.001",
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def swing_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "entry": "crosses_above(ema(close, 12), ema(close, 26)) and rsi(close, 14) < 70",
        "exit": "crosses_below(ema(close, 12), ema(close, 26)) or pnl_pct < -5",
        "sizing_mode": "quote",
        "sizing_value": "100",
    }
    config.update(overrides)
    return config


class StrategyFactory(factory.django.DjangoModelFactory[Strategy]):
    class Meta:
        model = Strategy

    owner = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    name = factory.Sequence(lambda n: f"bot-{n}")
    kind = "DCA"
    symbol = "BTCUSDT"
    interval = "1h"
    config = factory.LazyFunction(dca_config)
    status = StrategyStatus.DRAFT


def store_candles(
    *,
    symbol: str = "BTCUSDT",
    interval: str = "1h",
    last_close_before: datetime,
    count: int = 3,
    close: str = "30000",
) -> CandleData:
    """`count` flat candles, the newest closing just before `last_close_before`; returns it."""
    length = intervals.nominal_ms(interval)
    last_open = intervals.open_of(intervals.to_ms(last_close_before) - 1, interval) - length
    price = Decimal(close)
    candles = [
        CandleData(
            open_time=intervals.from_ms(last_open - i * length),
            open=price,
            high=price,
            low=price,
            close=price,
            volume=Decimal(1),
            close_time=intervals.from_ms(intervals.close_of(last_open - i * length, interval)),
        )
        for i in reversed(range(count))
    ]
    upsert_candles(symbol=symbol, interval=interval, candles=candles)
    return candles[-1]


def ago(moment: datetime, **kwargs: float) -> datetime:
    return moment - timedelta(**kwargs)
