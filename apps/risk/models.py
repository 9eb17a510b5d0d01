"""Risk tables: limits (optimistically locked) and the kill switch's audit trail."""

from __future__ import annotations

from django.db import models

from apps.core.decimals import money_field
from apps.execution.models import ExchangeAccount


class RiskLimits(models.Model):
    """Limits of one account (symbol blank) or of one symbol of it. Every limit is optional.

    `version` is compared on every update: a write carrying a stale version is refused (409).
    """

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="risk_limits")
    symbol = models.CharField(max_length=32, blank=True, default="")
    max_position_size = money_field(null=True, blank=True)  # base quantity
    max_symbol_exposure = money_field(null=True, blank=True)  # quote notional
    max_total_exposure = money_field(null=True, blank=True)  # valuation asset
    max_order_notional = money_field(null=True, blank=True)  # quote notional
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = money_field(null=True, blank=True)  # valuation asset, a positive amount
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="risk_limits_account_symbol_uniq")
        ]
        verbose_name_plural = "risk limits"

    def __str__(self) -> str:
        return f"limits {self.account_id}:{self.symbol or '*'} v{self.version}"


class KillSwitchChange(models.Model):
    """Every activation and deactivation of the global kill switch (append-only audit)."""

    active = models.BooleanField()
    reason = models.TextField()
    actor = models.CharField(max_length=150)
    automatic = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{'ON' if self.active else 'OFF'} by {self.actor}: {self.reason}"
