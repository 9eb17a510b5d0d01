"""Execution's metrics (docs/MONITORING.md).

Events are prometheus_client counters/histograms, summed across processes by multiprocess
mode (web, Celery workers and the stream process each write their own file). States are
read when /metrics is scraped, from PostgreSQL and Redis, because only they know the truth
across processes: orders by status, the outbox backlog, reconciliation runs, user streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from apps.core.domain import OrderStatus
from apps.execution.models import Order, OutboxEvent, ReconciliationRun

ORDER_TRANSITIONS = Counter(
    "tradingbot_order_transitions_total",
    "Order state changes recorded",
    ["from_status", "to_status"],
)
ORDER_ACK_LATENCY = Histogram(
    "tradingbot_order_ack_latency_seconds",
    "From order intake (row created) to the venue's acknowledgement (NEW -> SUBMITTED)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def order_transitioned(*, from_status: str, to_status: str, created_at: datetime | None) -> None:
    """Count a transition as it is recorded. Not deferred to commit: callers (and their tests)
    rely on their own on-commit hooks only, and a transition whose transaction then rolls
    back is rare enough (its row lock is held and the transition was checked) to accept."""
    ORDER_TRANSITIONS.labels(from_status or "none", to_status).inc()
    if from_status == OrderStatus.NEW and to_status == OrderStatus.SUBMITTED and created_at is not None:
        ORDER_ACK_LATENCY.observe(max(0.0, (timezone.now() - created_at).total_seconds()))


class OrdersCollector:
    """tradingbot_orders{status}: every status present, open ones always (zero included)."""

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("tradingbot_orders", "Orders by current status", labels=["status"])
        counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for status in OrderStatus.values:
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge


def outbox_backlog() -> tuple[int, float, int]:
    """(unpublished events, age in seconds of the oldest, events that failed at least once)."""
    pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        n=Count("id"), oldest=Min("created_at"), failing=Count("id", filter=Q(attempts__gt=0))
    )
    oldest = pending["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return pending["n"], max(0.0, age), pending["failing"]


class OutboxCollector:
    def collect(self) -> Iterator[Metric]:
        backlog, age, failing = outbox_backlog()
        yield GaugeMetricFamily("tradingbot_outbox_backlog", "Outbox events not yet published", value=backlog)
        yield GaugeMetricFamily(
            "tradingbot_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none)",
            value=age,
        )
        yield GaugeMetricFamily(
            "tradingbot_outbox_retrying", "Unpublished outbox events that failed at least once", value=failing
        )


def last_runs() -> list[ReconciliationRun]:
    """Each account's most recent finished reconciliation run (PostgreSQL DISTINCT ON)."""
    return list(
        ReconciliationRun.objects.exclude(status=ReconciliationRun.Status.RUNNING)
        .order_by("account_id", "-started_at")
        .distinct("account_id")
    )


class ReconciliationCollector:
    """Totals over the stored runs (counters: they only grow until runs are pruned) and the
    last finished run per account."""

    def collect(self) -> Iterator[Metric]:
        yield from self._totals()
        yield from self._last_runs()

    def _totals(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "tradingbot_reconciliation_runs", "Reconciliation runs by outcome", labels=["account", "status"]
        )
        repairs = CounterMetricFamily(
            "tradingbot_reconciliation_repairs", "Repairs made by reconciliation", labels=["account", "kind"]
        )
        weight = CounterMetricFamily(
            "tradingbot_reconciliation_weight_used", "Venue request weight spent", labels=["account"]
        )
        rows = ReconciliationRun.objects.values("account_id", "status").annotate(
            n=Count("id"),
            fills=Sum("fills_repaired"),
            orders=Sum("orders_resolved"),
            external=Sum("external_orders"),
            weight=Sum("weight_used"),
        )
        sums: dict[str, dict[str, int]] = {}
        for row in rows:
            account = str(row["account_id"])
            runs.add_metric([account, row["status"]], row["n"])
            acc = sums.setdefault(account, {"fills": 0, "orders": 0, "external": 0, "weight": 0})
            for key in acc:
                acc[key] += row[key] or 0
        for account, acc in sums.items():
            repairs.add_metric([account, "fills_repaired"], acc["fills"])
            repairs.add_metric([account, "orders_resolved"], acc["orders"])
            repairs.add_metric([account, "external_orders"], acc["external"])
            weight.add_metric([account], acc["weight"])
        yield from (runs, repairs, weight)

    def _last_runs(self) -> Iterator[Metric]:
        labels = ["account"]
        failed = GaugeMetricFamily(
            "tradingbot_reconciliation_last_failed", "1 if the last finished run failed", labels=labels
        )
        drift = GaugeMetricFamily(
            "tradingbot_reconciliation_last_drift_assets",
            "Assets whose balance drifted in the last finished run",
            labels=labels,
        )
        duration = GaugeMetricFamily(
            "tradingbot_reconciliation_last_duration_seconds", "Duration of the last run", labels=labels
        )
        weight = GaugeMetricFamily(
            "tradingbot_reconciliation_last_weight_used", "Request weight of the last run", labels=labels
        )
        finished = GaugeMetricFamily(
            "tradingbot_reconciliation_last_finished_timestamp_seconds",
            "When the last run finished (Unix time)",
            labels=labels,
        )
        for run in last_runs():
            account = [str(run.account_id)]
            failed.add_metric(account, 1 if run.status == ReconciliationRun.Status.FAILED else 0)
            drift.add_metric(account, len(run.balance_drift or {}))
            if run.finished_at is not None:
                duration.add_metric(account, (run.finished_at - run.started_at).total_seconds())
                finished.add_metric(account, run.finished_at.timestamp())
            weight.add_metric(account, run.weight_used)
        success = GaugeMetricFamily(
            "tradingbot_reconciliation_last_success_timestamp_seconds",
            "When the account was last reconciled successfully (Unix time)",
            labels=labels,
        )
        last_ok = (
            ReconciliationRun.objects.filter(status=ReconciliationRun.Status.SUCCEEDED)
            .values("account_id")
            .annotate(at=Max("finished_at"))
        )
        for row in last_ok:
            if row["at"] is not None:
                success.add_metric([str(row["account_id"])], row["at"].timestamp())
        yield from (failed, drift, duration, weight, finished, success)


class UserStreamCollector:
    """Per streamed account, from the health the stream process keeps in Redis."""

    def collect(self) -> Iterator[Metric]:
        from apps.execution.user_stream import stream_states  # noqa: PLC0415 - websockets only here

        labels = ["account"]
        up = GaugeMetricFamily(
            "tradingbot_user_stream_up",
            "1 if the account's user stream is connected and alive",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "tradingbot_user_stream_last_message_age_seconds",
            "Seconds since the last stream event",
            labels=labels,
        )
        down_for = GaugeMetricFamily(
            "tradingbot_user_stream_down_seconds",
            "Seconds the stream has been down (0 when up)",
            labels=labels,
        )
        reconnects = CounterMetricFamily(
            "tradingbot_user_stream_reconnects", "Connections lost and retried", labels=labels
        )
        for account_id, state in stream_states().items():
            account = [account_id]
            up.add_metric(account, 1 if state["state"] == "connected" else 0)
            if state["last_event_age_seconds"] is not None:
                age.add_metric(account, float(state["last_event_age_seconds"]))  # type: ignore[arg-type]
            down_for.add_metric(account, float(state.get("down_seconds") or 0))  # type: ignore[arg-type]
            reconnects.add_metric(account, int(state["reconnects"]))  # type: ignore[call-overload]
        yield from (up, age, down_for, reconnects)
