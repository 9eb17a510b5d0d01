"""Marks: the latest price per symbol, fed by market data (candles, ticker) and tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection

from apps.core.decimals import ensure_storable
from apps.core.errors import ValidationFailed
from apps.portfolio.models import Mark


def record_mark(
    *, symbol: str, price: Decimal, as_of: datetime, source: str, exchange: str = "binance"
) -> Mark:
    """Store `price` as the symbol's mark unless a newer mark is already stored.

    One atomic upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE stored.as_of <= new.as_of`):
    concurrent feeders never move a mark backwards in time. Returns the stored mark.
    """
    ensure_storable(price, field="price")
    if price <= 0:
        raise ValidationFailed("a mark price must be positive.", field="price")
    if as_of.tzinfo is None:
        raise ValidationFailed("as_of must be timezone-aware.", field="as_of")
    table = Mark._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (exchange, symbol, price, as_of, source, updated_at) "  # noqa: S608 - model table name
            "VALUES (%s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (exchange, symbol) DO UPDATE SET price = EXCLUDED.price, as_of = EXCLUDED.as_of, "
            f"source = EXCLUDED.source, updated_at = now() WHERE {table}.as_of <= EXCLUDED.as_of",
            [exchange, symbol, price, as_of, source],
        )
    return Mark.objects.get(exchange=exchange, symbol=symbol)
