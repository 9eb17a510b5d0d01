"""Exchange metadata: the symbols a venue trades and their filters."""

from __future__ import annotations

from django.db import models

from apps.core.decimals import money_field


class Instrument(models.Model):
    """A tradable symbol on one exchange with its filters (from exchangeInfo)."""

    exchange = models.CharField(max_length=32, default="binance")
    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=16)
    quote_asset = models.CharField(max_length=16)
    tick_size = money_field()
    step_size = money_field()
    min_qty = money_field(default=0)
    max_qty = money_field(default=0)
    min_price = money_field(default=0)
    max_price = money_field(default=0)
    min_notional = money_field(default=0)
    max_notional = money_field(default=0)
    is_trading = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="exchange_instrument_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"
