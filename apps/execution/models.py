"""Execution tables: accounts, orders and their events, fills, the outbox.

Rows change only through `services.py`; these classes hold columns and row-level
constraints, no behaviour (no logic in save(), no signals).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.decimals import money_field
from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce


class ExchangeAccount(models.Model):
    class Mode(models.TextChoices):
        LIVE = "live"
        TESTNET = "testnet"
        SIMULATED = "simulated"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exchange_accounts"
    )
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=32, default="binance")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.SIMULATED)
    # Fernet tokens (apps.execution.crypto); plaintext never touches the database or the API.
    api_key_encrypted = models.TextField(blank=True, default="")
    api_secret_encrypted = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="execution_account_owner_name_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange}, {self.mode})"

    def __repr__(self) -> str:  # never show credentials, even encrypted
        return f"<ExchangeAccount {self.pk} {self.name!r} {self.mode}>"


class Order(models.Model):
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="orders")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=16, choices=OrderType.choices)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, blank=True, default="")
    quantity = money_field()
    price = money_field(null=True, blank=True)
    client_order_id = models.CharField(max_length=36)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    filled_quantity = money_field(default=0)
    average_fill_price = money_field(null=True, blank=True)
    cumulative_quote = money_field(default=0)
    # Commission per asset, {"BNB": "0.0001"}: commissions can be charged in several assets.
    fees = models.JSONField(default=dict, blank=True)
    strategy_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reject_reason = models.TextField(blank=True, default="")
    # Found on the venue by reconciliation, not placed by us (e.g. by hand): flagged for review.
    is_external = models.BooleanField(default=False)
    # Submission bookkeeping: attempts > 0 with status NEW means the outcome of a send is
    # unknown, so the next try must look the order up on the venue before sending again.
    submit_attempts = models.PositiveIntegerField(default=0)
    submit_lease_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "client_order_id"], name="execution_order_client_id_uniq"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="execution_order_quantity_positive"),
            models.CheckConstraint(condition=Q(filled_quantity__gte=0), name="execution_order_filled_nonneg"),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=models.F("quantity")), name="execution_order_not_overfilled"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["account", "symbol", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.quantity} {self.symbol} [{self.status}]"


class OrderEvent(models.Model):
    """Append-only history of an order: transitions, fills, submission attempts, denials.

    A database trigger (migration 0002) refuses UPDATE and DELETE.
    """

    class Kind(models.TextChoices):
        CREATED = "created"
        TRANSITION = "transition"
        SUBMISSION_ATTEMPT = "submission_attempt"
        FILL = "fill"
        OVERFILL_REJECTED = "overfill_rejected"
        DENIED = "denied"
        VENUE_ERROR = "venue_error"
        RECONCILED = "reconciled"
        EXTERNAL_DETECTED = "external_detected"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True, default="")
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


class Fill(models.Model):
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=32)
    exchange_fill_id = models.BigIntegerField()
    price = money_field()
    quantity = money_field()
    quote_quantity = money_field()
    commission = money_field(default=0)
    commission_asset = models.CharField(max_length=16, blank=True, default="")
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol", "exchange_fill_id"], name="execution_fill_exchange_id_uniq"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="execution_fill_quantity_positive"),
        ]
        indexes = [models.Index(fields=["account", "-executed_at"])]

    def __str__(self) -> str:
        return f"{self.symbol}#{self.exchange_fill_id} {self.quantity}@{self.price}"


class OutboxEvent(models.Model):
    """A domain event written in the producer's transaction, relayed after commit."""

    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], condition=Q(published_at__isnull=True), name="execution_outbox_pending_idx"
            ),
            # The relay's "earlier pending event of this aggregate?" check reads only pending rows.
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"],
                condition=Q(published_at__isnull=True),
                name="outbox_agg_pending_idx",
            ),
            # The claim's "earlier event of this aggregate backing off?" probe: only rows that
            # failed at least once, usually none, so the probe costs next to nothing.
            models.Index(
                fields=["aggregate_type", "aggregate_id", "id"],
                condition=Q(published_at__isnull=True, next_attempt_at__isnull=False),
                name="outbox_agg_retrying_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"


class ReconciliationRun(models.Model):
    """One comparison of an account's books with the venue, and what it repaired."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="reconciliation_runs")
    trigger = models.CharField(max_length=32, default="beat")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    orders_checked = models.PositiveIntegerField(default=0)
    fills_repaired = models.PositiveIntegerField(default=0)
    orders_resolved = models.PositiveIntegerField(default=0)
    external_orders = models.PositiveIntegerField(default=0)
    balance_drift = models.JSONField(default=dict, blank=True)
    requests_made = models.PositiveIntegerField(default=0)
    weight_used = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "status", "-started_at"])]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} of {self.account_id} ({self.status})"


class ReconciliationCursor(models.Model):
    """Per account and symbol: the venue trade id up to which our fills are known complete."""

    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, related_name="reconciliation_cursors"
    )
    symbol = models.CharField(max_length=32)
    last_trade_id = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="execution_reconciliation_cursor_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.symbol}@{self.last_trade_id}"
