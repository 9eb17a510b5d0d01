"""The "binance" kline source for `import_candles`, registered at start-up (ExecutionConfig.ready).

Candles cannot build exchange adapters (they sit beside exchange, below execution), so this
layer does it: klines come from the venue adapter of an exchange account (`--account ID`), or,
since klines are public, from the adapter of an account mode without credentials
(`--mode live|testnet|simulated`, default live).
"""

from __future__ import annotations

from collections.abc import Mapping

from apps.candles.sources import KlineSource, register_kline_source
from apps.core.errors import NotFound, ValidationFailed

from .models import ExchangeAccount
from .venues import adapter_for


def binance_kline_source(options: Mapping[str, str]) -> KlineSource:
    if options.get("account"):
        try:
            account = ExchangeAccount.objects.get(pk=int(options["account"]))
        except (ValueError, ExchangeAccount.DoesNotExist):
            raise NotFound(f"no exchange account {options['account']}.", field="account") from None
        return adapter_for(account)
    mode = options.get("mode") or ExchangeAccount.Mode.LIVE
    if mode not in ExchangeAccount.Mode.values:
        raise ValidationFailed(f"unknown mode {mode!r}.", field="mode")
    return adapter_for(ExchangeAccount(mode=mode, name=f"public-{mode}"))


def register_kline_sources() -> None:
    register_kline_source("binance", binance_kline_source)
