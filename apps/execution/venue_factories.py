"""Default adapters per account mode, registered at start-up (ExecutionConfig.ready).

live → Binance Spot; testnet → Binance's spot testnet; simulated → the project's local
Binance-compatible simulator (the same BinanceSpot code over the same wire format: the
simulated exchange is a separate venue, never a dry-run branch). One adapter per account and
one weight budget per base URL are kept per process.
"""

from __future__ import annotations

import threading

from django.conf import settings

from apps.exchange.binance.adapter import BinanceSpot
from apps.exchange.binance.ratelimit import WeightBudget

from .crypto import decrypt_secret
from .models import ExchangeAccount
from .venues import register_adapter

_adapters: dict[tuple[int, str, str], BinanceSpot] = {}
_budgets: dict[str, WeightBudget] = {}
_lock = threading.Lock()


def _endpoints(mode: str) -> tuple[str | None, str | None, bool]:
    if mode == ExchangeAccount.Mode.SIMULATED:
        return settings.SIMULATOR_BASE_URL, settings.SIMULATOR_WS_API_URL, False
    if mode == ExchangeAccount.Mode.TESTNET:
        return settings.BINANCE_TESTNET_BASE_URL or None, None, True
    return settings.BINANCE_BASE_URL or None, None, False


def binance_adapter_for(account: ExchangeAccount) -> BinanceSpot:
    base_url, ws_url, testnet = _endpoints(account.mode)
    key = (account.pk, account.api_key_encrypted, account.mode)
    with _lock:
        adapter = _adapters.get(key)
        if adapter is None:
            budget = _budgets.setdefault(base_url or account.mode, WeightBudget())
            adapter = BinanceSpot(
                api_key=decrypt_secret(account.api_key_encrypted) if account.api_key_encrypted else "",
                api_secret=decrypt_secret(account.api_secret_encrypted)
                if account.api_secret_encrypted
                else "",
                base_url=base_url,
                ws_api_url=ws_url,
                testnet=testnet,
                budget=budget,
            )
            _adapters[key] = adapter
        return adapter


def register_default_adapters() -> None:
    for mode in ExchangeAccount.Mode.values:
        register_adapter(mode, binance_adapter_for)
