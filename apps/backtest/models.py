"""Backtest tables: a run (what was simulated, how, its status and fingerprint), the orders
and fills it produced, its equity curve and its metrics.

Rows are written only by `services`; orders and fills in bulk (COPY FROM STDIN), because a run
can produce tens of thousands of them. Fills name their order by the simulated venue's
order number inside the run, not by a foreign key, so both tables are written in one pass
without reading ids back.

The equity curve is one row per UTC day (the equity at the close of the day's last candle),
or per candle for intervals longer than a day: compact (a 1-minute year is 365 rows, not
525,600), and exactly the series the daily-return metrics (Sharpe, Sortino) are computed on.
Max drawdown is computed on the per-candle series in memory, so intraday drops count.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.decimals import money_field


class BacktestStatus(models.TextChoices):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class BacktestRun(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests")
    # The strategy it was started from, if any; the config below is the snapshot that ran.
    strategy_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=8)
    config = models.JSONField()
    symbol = models.CharField(max_length=32)
    interval = models.CharField(max_length=3)
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The symbol's exchange filters used for quantization (snapshot, JSON of Decimal strings).
    filters = models.JSONField(default=dict)
    maker_fee = money_field()
    taker_fee = money_field()
    slippage_bps = money_field()
    initial_balance = money_field()  # quote asset
    status = models.CharField(
        max_length=9, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)  # 0..1
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Timings in seconds: {"load", "simulate", "store", "total"}; counts: candles, steps.
    timings = models.JSONField(default=dict, blank=True)
    candle_count = models.PositiveIntegerField(default=0)
    # sha256 hex of the canonical config (with everything above that changes the result), of
    # the candle arrays used, and of the resulting orders and fills (the result digest).
    config_hash = models.CharField(max_length=64, blank=True, default="")
    data_hash = models.CharField(max_length=64, blank=True, default="")
    result_digest = models.CharField(max_length=64, blank=True, default="")
    # Metric name -> value (Decimal as string, or null where undefined); see docs/BACKTEST.md.
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "-id"], name="backtest_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=BacktestStatus.values), name="backtest_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="backtest_range"),
        ]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.kind} {self.symbol} {self.interval} ({self.status})"


class BacktestOrder(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="orders")
    # The simulated venue's order id, from 1 per run; null for an order it refused.
    order_no = models.PositiveIntegerField(null=True, blank=True)
    client_order_id = models.CharField(max_length=36)
    tag = models.CharField(max_length=64, blank=True, default="")
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=11)
    quantity = money_field()
    price = money_field(null=True, blank=True)
    status = models.CharField(max_length=16)
    executed_quantity = money_field()
    cumulative_quote = money_field()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # Binance's reason when the simulated venue refused the order ("" otherwise).
    reject_reason = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        ordering = ["run", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "order_no"], name="backtest_order_uniq")]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.order_type} {self.quantity} ({self.status})"


class BacktestFill(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="fills")
    trade_no = models.PositiveIntegerField()
    order_no = models.PositiveIntegerField()
    client_order_id = models.CharField(max_length=36)
    side = models.CharField(max_length=4)
    price = money_field()
    quantity = money_field()
    quote_quantity = money_field()
    commission = money_field()
    commission_asset = models.CharField(max_length=16)
    is_maker = models.BooleanField()
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "trade_no"]
        constraints = [models.UniqueConstraint(fields=["run", "trade_no"], name="backtest_fill_uniq")]

    def __str__(self) -> str:
        return f"fill {self.trade_no}: {self.side} {self.quantity} @ {self.price}"


class BacktestEquityPoint(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="equity")
    time = models.DateTimeField()
    equity = money_field()  # quote asset: quote balance + base balance x close
    base_balance = money_field()
    quote_balance = money_field()

    class Meta:
        ordering = ["run", "time"]
        constraints = [models.UniqueConstraint(fields=["run", "time"], name="backtest_equity_uniq")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.equity}"
