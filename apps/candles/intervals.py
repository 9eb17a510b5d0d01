"""Kline intervals as Binance names them (the model choices); the boundary arithmetic is
apps.core.intervals, re-exported here for the candles app and its callers."""

from __future__ import annotations

from django.db import models

from apps.core.intervals import (
    DAY_MS,
    EPOCH,
    FIXED_MS,
    HOUR_MS,
    MINUTE_MS,
    MONTH,
    SECOND_MS,
    close_of,
    from_ms,
    next_open,
    nominal_ms,
    open_of,
    to_ms,
)


class Interval(models.TextChoices):
    S1 = "1s", "1s"
    M1 = "1m", "1m"
    M3 = "3m", "3m"
    M5 = "5m", "5m"
    M15 = "15m", "15m"
    M30 = "30m", "30m"
    H1 = "1h", "1h"
    H2 = "2h", "2h"
    H4 = "4h", "4h"
    H6 = "6h", "6h"
    H8 = "8h", "8h"
    H12 = "12h", "12h"
    D1 = "1d", "1d"
    D3 = "3d", "3d"
    W1 = "1w", "1w"
    MO1 = "1M", "1M"


def is_valid(interval: str) -> bool:
    return interval in Interval.values


__all__ = [
    "DAY_MS",
    "EPOCH",
    "FIXED_MS",
    "HOUR_MS",
    "MINUTE_MS",
    "MONTH",
    "SECOND_MS",
    "Interval",
    "close_of",
    "from_ms",
    "is_valid",
    "next_open",
    "nominal_ms",
    "open_of",
    "to_ms",
]
