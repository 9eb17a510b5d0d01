from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory

from apps.candles import intervals
from apps.candles.domain import CandleData
from apps.candles.models import Candle

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class CandleFactory(factory.django.DjangoModelFactory[Candle]):
    """One 1m candle per sequence number, on the grid from T0, prices drifting upwards."""

    class Meta:
        model = Candle

    symbol = "BTCUSDT"
    interval = "1m"
    open_time = factory.Sequence(lambda n: T0 + timedelta(minutes=n))
    open = factory.Sequence(lambda n: Decimal("100.00") + n)
    close = factory.LazyAttribute(lambda c: c.open + Decimal("0.50"))
    high = factory.LazyAttribute(lambda c: c.close + Decimal("0.25"))
    low = factory.LazyAttribute(lambda c: c.open - Decimal("0.25"))
    volume = Decimal("1.5")
    close_time = factory.LazyAttribute(
        lambda c: intervals.from_ms(intervals.close_of(intervals.to_ms(c.open_time), c.interval))
    )


def candle(minute: int, price: str = "100", *, interval: str = "1m", volume: str = "2") -> CandleData:
    """A flat-bodied candle `minute` intervals after T0 (for upsert tests)."""
    open_ms = intervals.to_ms(T0) + minute * intervals.FIXED_MS[interval]
    p = Decimal(price)
    return CandleData(
        open_time=intervals.from_ms(open_ms),
        open=p,
        high=p + 1,
        low=p - 1,
        close=p,
        volume=Decimal(volume),
        close_time=intervals.from_ms(intervals.close_of(open_ms, interval)),
    )
