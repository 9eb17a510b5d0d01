"""Where imported klines come from: a small interface and a registry.

Candles sit below execution and beside exchange, so they cannot build an exchange adapter
themselves. A higher layer registers a factory under a name at start-up (execution registers
"binance", backed by the account's venue adapter); `import_candles --source binance` looks it
up here. The exchange adapter already satisfies `KlineSource` structurally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from apps.core.errors import ValidationFailed

#: Binance's maximum klines per request.
MAX_PAGE = 1000


class KlineLike(Protocol):
    """One kline as a source returns it (the exchange's `Kline` DTO has these fields)."""

    @property
    def open_time(self) -> datetime: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> Decimal: ...
    @property
    def close_time(self) -> datetime: ...


class KlineSource(Protocol):
    def klines(
        self,
        *,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = MAX_PAGE,
    ) -> Sequence[KlineLike]:
        """Up to `limit` klines opening at or after `start` (and at or before `end`), oldest first."""
        ...


#: Builds a source from the command's options (e.g. {"account": "3"} or {"mode": "live"}).
KlineSourceFactory = Callable[[Mapping[str, str]], KlineSource]
_factories: dict[str, KlineSourceFactory] = {}


def register_kline_source(name: str, factory: KlineSourceFactory) -> None:
    _factories[name] = factory


def kline_source_names() -> list[str]:
    return sorted(_factories)


def kline_source(name: str, options: Mapping[str, str] | None = None) -> KlineSource:
    try:
        factory = _factories[name]
    except KeyError:
        known = ", ".join(kline_source_names()) or "none"
        raise ValidationFailed(
            f"unknown kline source {name!r} (registered: {known}).", field="source"
        ) from None
    return factory(options or {})
