"""Reads of exchange metadata for other apps (DTOs, not querysets)."""

from __future__ import annotations

from apps.core.domain import SymbolFilters

from .models import Instrument


def get_symbol_filters(*, exchange: str, symbol: str) -> SymbolFilters | None:
    """The symbol's filters, or None when the venue does not trade it."""
    row = Instrument.objects.filter(exchange=exchange, symbol=symbol, is_trading=True).first()
    if row is None:
        return None
    return SymbolFilters(
        symbol=row.symbol,
        base_asset=row.base_asset,
        quote_asset=row.quote_asset,
        tick_size=row.tick_size,
        step_size=row.step_size,
        min_qty=row.min_qty,
        max_qty=row.max_qty,
        min_price=row.min_price,
        max_price=row.max_price,
        min_notional=row.min_notional,
        max_notional=row.max_notional,
    )
