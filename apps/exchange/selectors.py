"""Reads of exchange metadata for other apps (DTOs, not querysets).

A symbol's filters are read on every order, and change only when exchange info is synced, so
they are kept in the shared cache (Redis, one copy for every process). A copy is used only
while the instruments' generation is the one it was read under: every write of an
`Instrument` (save or delete, see `invalidate_symbol_filters`) bumps the generation, so no
process ever validates an order against filters older than the last committed write. Any
cache failure means a read from PostgreSQL, never an error.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache

from apps.core.domain import SymbolFilters

from .models import Instrument

logger = logging.getLogger(__name__)

GENERATION_KEY = "exchange:instruments:generation"
FILTERS_TTL_SECONDS = 3600  # a bound on a copy's life should a generation bump be lost


def _filters_key(exchange: str, symbol: str) -> str:
    return f"exchange:filters:{exchange}:{symbol}"


def get_symbol_filters(*, exchange: str, symbol: str) -> SymbolFilters | None:
    """The symbol's filters, or None when the venue does not trade it.

    One cache round trip (`MGET` of the generation and the copy) when cached; otherwise the
    row is read and stored tagged with the generation read *before* it, so a write that
    commits in between makes that copy unusable rather than stale."""
    key = _filters_key(exchange, symbol)
    try:
        got = cache.get_many([GENERATION_KEY, key])
    except Exception:  # noqa: BLE001 - the cache is an optimisation: read the row
        logger.warning("symbol filter cache unavailable; reading %s from the database", symbol)
        return _read_filters(exchange, symbol)
    generation = got.get(GENERATION_KEY)
    if generation is None:  # never set, or lost: no copy can be trusted; start a new one
        _start_generation()
        return _read_filters(exchange, symbol)
    copy = got.get(key)
    if isinstance(copy, tuple) and len(copy) == 2 and copy[0] == generation:
        return copy[1]
    filters = _read_filters(exchange, symbol)
    try:
        cache.set(key, (generation, filters), timeout=FILTERS_TTL_SECONDS)
    except Exception:  # noqa: BLE001 - not cached this time
        logger.warning("symbol filters of %s could not be cached", symbol)
    return filters


def _read_filters(exchange: str, symbol: str) -> SymbolFilters | None:
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


def invalidate_symbol_filters(**_: Any) -> None:
    """Make every cached copy of symbol filters unusable (connected to Instrument's
    post_save and post_delete in ExchangeConfig.ready, so every ORM write of a row counts:
    `upsert_instrument`, admin, shell, a queryset delete).

    Bumped at once and again on commit: the first bump covers readers in the writer's own
    transaction, the second the readers that read the old row while it was uncommitted.
    Queryset `update()`/`bulk_*` send no signals: write instruments through the service."""
    from django.db import transaction  # noqa: PLC0415 - keep module import light

    _bump_generation()
    transaction.on_commit(_bump_generation)


def _start_generation() -> None:
    """A new generation starts from the clock (nanoseconds), so a generation lost with Redis
    and started again never equals the one an older surviving copy was tagged with."""
    try:
        cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
    except Exception:  # noqa: BLE001 - the next read tries again
        logger.warning("could not start the symbol filter cache generation")


def _bump_generation() -> None:
    try:
        cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
        cache.incr(GENERATION_KEY)
    except Exception:
        logger.exception("could not invalidate cached symbol filters")
