"""Which adapter serves an account. Adapters register per account mode at start-up
(issue #4 registers Binance Spot for live/testnet and the local simulator for simulated)."""

from __future__ import annotations

from collections.abc import Callable

from apps.core.errors import ErrorCode, ServiceUnavailable
from apps.exchange.adapter import ExchangeAdapter

from .models import ExchangeAccount

AdapterFactory = Callable[[ExchangeAccount], ExchangeAdapter]
_factories: dict[str, AdapterFactory] = {}


def register_adapter(mode: str, factory: AdapterFactory) -> None:
    _factories[mode] = factory


def adapter_for(account: ExchangeAccount) -> ExchangeAdapter:
    try:
        factory = _factories[account.mode]
    except KeyError:
        raise ServiceUnavailable(
            f"No exchange adapter is configured for {account.mode} accounts.",
            code=ErrorCode.SERVICE_UNAVAILABLE,
        ) from None
    return factory(account)
