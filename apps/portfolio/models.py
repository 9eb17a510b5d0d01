"""Portfolio tables: positions and their update history, balances, marks, daily snapshots.

Rows change only through `services/`; these classes hold columns and row-level constraints.
Money columns are NUMERIC(38, 18) (`money_field`). Amounts of a position (cost basis,
realized PnL, fees) are in the symbol's quote asset.
"""

from __future__ import annotations

from django.db import models

from apps.core.decimals import money_field
from apps.execution.models import ExchangeAccount


class ProcessedEvent(models.Model):
    """An outbox event a portfolio consumer has applied; written in the update's transaction."""

    consumer = models.CharField(max_length=64)
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=64)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="portfolio_processed_event_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.consumer}:{self.event_id} ({self.event_type})"


class Position(models.Model):
    """What an account holds of one symbol, by the average-cost method (docs/PORTFOLIO.md).

    `quantity` is signed: the signed sum of fills less the commissions paid in the base asset,
    i.e. what the wallet holds through us (below zero when more was sold than bought).
    `cost_basis` is the signed cost of the open quantity, so the unrealized PnL is
    `quantity * mark - cost_basis` exactly.
    """

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=16)
    quote_asset = models.CharField(max_length=16)
    quantity = money_field(default=0)
    cost_basis = money_field(default=0)
    average_price = money_field(null=True, blank=True)
    realized_pnl = money_field(default=0)
    # Commission converted to the quote asset; what could not be converted is kept per asset.
    fees_paid = money_field(default=0)
    unconverted_fees = models.JSONField(default=dict, blank=True)
    fills_count = models.PositiveIntegerField(default=0)
    last_fill_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol"], name="portfolio_position_account_symbol_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity} @ {self.average_price} (account {self.account_id})"

    @property
    def fees_complete(self) -> bool:
        return not self.unconverted_fees


class PositionUpdate(models.Model):
    """One fill's effect on a position, with the fee conversion used (audit; append-only)."""

    class FeeSource(models.TextChoices):
        NONE = "none"
        QUOTE = "quote"
        BASE_AT_FILL_PRICE = "base_at_fill_price"
        MARK = "mark"
        INVERSE_MARK = "inverse_mark"
        UNAVAILABLE = "unavailable"

    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="updates")
    event_id = models.BigIntegerField(null=True, blank=True)
    fill_id = models.BigIntegerField(unique=True)
    order_id = models.BigIntegerField()
    side = models.CharField(max_length=4)
    quantity = money_field()
    price = money_field()
    quote_quantity = money_field()
    commission = money_field(default=0)
    commission_asset = models.CharField(max_length=16, blank=True, default="")
    fee_quote = money_field(null=True, blank=True)
    fee_rate = money_field(null=True, blank=True)
    fee_rate_source = models.CharField(max_length=24, choices=FeeSource.choices, default=FeeSource.NONE)
    fee_rate_symbol = models.CharField(max_length=32, blank=True, default="")
    fee_rate_as_of = models.DateTimeField(null=True, blank=True)
    realized_pnl = money_field(default=0)
    quantity_after = money_field()
    cost_basis_after = money_field()
    average_price_after = money_field(null=True, blank=True)
    version_after = models.PositiveIntegerField()
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["position", "id"])]

    def __str__(self) -> str:
        return f"fill {self.fill_id}: {self.side} {self.quantity} @ {self.price} -> v{self.version_after}"


class Balance(models.Model):
    """An asset's balance: as the venue last reported it, and as our fills since then imply.

    `free`/`locked`/`reported_at` are null until the venue first reports the asset.
    `derived_total` = last reported total + fill flows executed after `reported_at` (all
    flows when never reported). `drift`, set at each report after the first, is what the
    report disagreed with our expectation (previous report + fills in between): deposits,
    withdrawals or missed fills.
    """

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="balances")
    asset = models.CharField(max_length=16)
    free = money_field(null=True, blank=True)
    locked = money_field(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    report_source = models.CharField(max_length=32, blank=True, default="")
    derived_total = money_field(default=0)
    drift = money_field(null=True, blank=True)
    drift_since = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="portfolio_balance_account_asset_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.asset} free={self.free} locked={self.locked} (account {self.account_id})"


class BalanceFlow(models.Model):
    """How one fill moved one asset (trade leg or commission); the base of derived balances."""

    class Kind(models.TextChoices):
        TRADE = "trade"
        FEE = "fee"

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="balance_flows")
    asset = models.CharField(max_length=16)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = money_field()
    fill_id = models.BigIntegerField()
    executed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fill_id", "asset", "kind"], name="portfolio_balance_flow_uniq")
        ]
        indexes = [models.Index(fields=["account", "asset", "executed_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.asset} (fill {self.fill_id})"


class Mark(models.Model):
    """The latest known price of a symbol (fed by candles/ticker through `record_mark`)."""

    exchange = models.CharField(max_length=32, default="binance")
    symbol = models.CharField(max_length=32)
    price = money_field()
    as_of = models.DateTimeField()
    source = models.CharField(max_length=32)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol"], name="portfolio_mark_exchange_symbol_uniq"
            ),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="portfolio_mark_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol} {self.price} @ {self.as_of:%Y-%m-%d %H:%M:%S}"


class PnlSnapshot(models.Model):
    """An account's PnL at the end of a UTC day, in the valuation asset (beat, daily)."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="pnl_snapshots")
    date = models.DateField()
    valuation_asset = models.CharField(max_length=16)
    realized_pnl = money_field()
    unrealized_pnl = money_field()
    fees = money_field()
    net_pnl = money_field()
    # net_pnl minus the previous snapshot's net_pnl (None for the first snapshot).
    daily_net_pnl = money_field(null=True, blank=True)
    equity = money_field(null=True, blank=True)
    gross_exposure = money_field()
    net_exposure = money_field()
    is_stale = models.BooleanField()
    data_as_of = models.DateTimeField(null=True, blank=True)
    stale_reasons = models.JSONField(default=list, blank=True)
    symbols = models.JSONField(default=list, blank=True)
    taken_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "date"], name="portfolio_pnl_snapshot_account_date_uniq"
            )
        ]
        ordering = ["account_id", "date"]

    def __str__(self) -> str:
        return f"PnL {self.date} account {self.account_id}: {self.net_pnl} {self.valuation_asset}"
