"""Symbols the `run_simulator` command knows, with Binance-like filters and starting prices."""

from __future__ import annotations

from decimal import Decimal

from apps.core.domain import SymbolFilters


def _usdt(base: str, *, tick: str, step: str, max_qty: str) -> SymbolFilters:
    return SymbolFilters(
        symbol=f"{base}USDT",
        base_asset=base,
        quote_asset="USDT",
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        min_price=Decimal(tick),
        max_price=Decimal(1000000),
        min_notional=Decimal(5),
    )


PRESETS: dict[str, tuple[SymbolFilters, Decimal]] = {
    "BTCUSDT": (_usdt("BTC", tick="0.01", step="0.00001", max_qty="9000"), Decimal("60000.00")),
    "ETHUSDT": (_usdt("ETH", tick="0.01", step="0.0001", max_qty="9000"), Decimal("3000.00")),
    "BNBUSDT": (_usdt("BNB", tick="0.01", step="0.001", max_qty="9000"), Decimal("600.00")),
    "SOLUSDT": (_usdt("SOL", tick="0.01", step="0.001", max_qty="90000"), Decimal("150.00")),
}
