"""Writes of exchange metadata."""

from __future__ import annotations

from dataclasses import asdict

from django.db import transaction

from apps.core.domain import SymbolFilters

from .models import Instrument


@transaction.atomic
def upsert_instrument(*, exchange: str, filters: SymbolFilters) -> Instrument:
    values = asdict(filters)
    symbol = values.pop("symbol")
    instrument, _ = Instrument.objects.update_or_create(
        exchange=exchange, symbol=symbol, defaults={**values, "is_trading": True}
    )
    return instrument
