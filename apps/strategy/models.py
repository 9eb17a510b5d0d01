"""Strategy tables: a bot's definition and lifecycle, and the history of its status.

Rows change only through `services/`; these classes hold columns and row-level constraints,
no behaviour. `config` always holds `config_to_json` of a validated config; `state` is the
live runtime's snapshot, written by the engine after every step.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.execution.models import ExchangeAccount

from .configs import StrategyKind


class StrategyStatus(models.TextChoices):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class Strategy(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strategies")
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="strategies")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in StrategyKind])
    symbol = models.CharField(max_length=32)
    interval = models.CharField(max_length=3)
    config = models.JSONField()
    status = models.CharField(
        max_length=8, choices=StrategyStatus.choices, default=StrategyStatus.DRAFT, db_index=True
    )
    # Optimistic lock: every change (edit or status) increments it; an edit that names an
    # older version is refused with 409.
    version = models.PositiveIntegerField(default=1)
    # Live engine's fields (issue 9): runtime snapshot and step bookkeeping.
    state = models.JSONField(default=dict, blank=True)
    last_step_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="strategy_owner_name_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=StrategyStatus.values), name="strategy_status_valid"
            ),
        ]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} {self.symbol} {self.interval}, {self.status})"


class StrategyEvent(models.Model):
    """One status change (or creation, from_status blank), written with the change itself."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=8, choices=StrategyStatus.choices, blank=True, default="")
    to_status = models.CharField(max_length=8, choices=StrategyStatus.choices)
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=150)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.strategy_id}: {self.from_status or '-'} -> {self.to_status} by {self.actor}"
