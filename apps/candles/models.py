"""Market data: OHLCV candles, one row per (symbol, interval, open time).

Rows are written only through `services.upsert_candles`. Prices and volume are NUMERIC(38, 18);
the unique index on (symbol, interval, open_time) is also the index every range read uses.
The `*_float` columns are float8 copies the database derives (for `selectors.load_arrays`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, FloatField, Q
from django.db.models.functions import Cast

from apps.core.decimals import money_field

from .intervals import Interval


class Candle(models.Model):
    symbol = models.CharField(max_length=32)
    interval = models.CharField(max_length=3, choices=Interval.choices)
    open_time = models.DateTimeField()
    open = money_field()
    high = money_field()
    low = money_field()
    close = money_field()
    volume = money_field()
    close_time = models.DateTimeField()
    # float8 copies kept by PostgreSQL itself (generated, never written or read as money): the
    # numpy loader reads these, since numeric -> float8 costs more than the rest of a range read.
    open_float = models.GeneratedField(
        expression=Cast("open", FloatField()), output_field=FloatField(), db_persist=True
    )
    high_float = models.GeneratedField(
        expression=Cast("high", FloatField()), output_field=FloatField(), db_persist=True
    )
    low_float = models.GeneratedField(
        expression=Cast("low", FloatField()), output_field=FloatField(), db_persist=True
    )
    close_float = models.GeneratedField(
        expression=Cast("close", FloatField()), output_field=FloatField(), db_persist=True
    )
    volume_float = models.GeneratedField(
        expression=Cast("volume", FloatField()), output_field=FloatField(), db_persist=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval", "open_time"], name="candles_series_open_uniq"
            ),
            models.CheckConstraint(
                condition=Q(close_time__gt=F("open_time")), name="candles_close_after_open"
            ),
            models.CheckConstraint(
                condition=Q(low__gt=0)
                & Q(low__lte=F("open"))
                & Q(low__lte=F("close"))
                & Q(high__gte=F("open"))
                & Q(high__gte=F("close"))
                & Q(volume__gte=0),
                name="candles_ohlcv_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.interval} {self.open_time:%Y-%m-%d %H:%M}"
