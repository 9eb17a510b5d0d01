"""Scrape-time collectors: values read from PostgreSQL and Redis when /metrics is scraped.

Each app's collectors come from its `metrics.collectors()`; strategies, backtests and the
Celery queues are read here. A collector that fails (a dependency down, a table not migrated
yet) is skipped for that scrape and reported as `tradingbot_collector_up{collector} 0`,
so one broken source never hides the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Protocol

import redis
from django.apps import apps as django_apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.execution import metrics as execution_metrics
from apps.risk import metrics as risk_metrics
from tradingbot.celery import QUEUE_PRIORITIES

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps one list per queue and priority step: "name", "name\x06\x163", …
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_PRIORITY_SEP = "\x06\x16"


class Collector(Protocol):
    def collect(self) -> Iterator[Metric]: ...


def queue_keys(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{step}" for step in KOMBU_PRIORITY_STEPS]


def queue_lengths() -> dict[str, int]:
    """Messages waiting per Celery queue (every priority sub-queue summed), from the broker."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUE_PRIORITIES:
            for key in queue_keys(queue):
                pipe.llen(key)
        lengths = iter(pipe.execute())
        return {queue: sum(next(lengths) for _ in KOMBU_PRIORITY_STEPS) for queue in QUEUE_PRIORITIES}
    finally:
        client.close()


class CeleryQueuesCollector:
    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "tradingbot_celery_queue_length", "Tasks waiting per queue", labels=["queue"]
        )
        for queue, length in queue_lengths().items():
            gauge.add_metric([queue], length)
        yield gauge


def model_or_none(label: str, name: str) -> Any:
    """An app's model if that app has it yet (strategy and backtest land separately)."""
    try:
        return django_apps.get_model(label, name)
    except LookupError:
        return None


def strategy_overview() -> tuple[dict[str, int], list[tuple[int, str, float | None, str]]] | None:
    """(count by status, [(id, name, seconds since last step, last error)] of RUNNING ones)."""
    strategy = model_or_none("strategy", "Strategy")
    if strategy is None:
        return None
    counts = dict(strategy.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    now = timezone.now()
    running = [
        (pk, name, (now - last).total_seconds() if last else None, error)
        for pk, name, last, error in strategy.objects.filter(status="RUNNING").values_list(
            "pk", "name", "last_step_at", "last_error"
        )
    ]
    return counts, running


class StrategiesCollector:
    def collect(self) -> Iterator[Metric]:
        overview = strategy_overview()
        if overview is None:
            return
        counts, running = overview
        by_status = GaugeMetricFamily("tradingbot_strategies", "Strategies by status", labels=["status"])
        for status in ("DRAFT", "RUNNING", "PAUSED", "STOPPED", "ERROR"):
            by_status.add_metric([status], counts.get(status, 0))
        age = GaugeMetricFamily(
            "tradingbot_strategy_last_step_age_seconds",
            "Seconds since a running strategy's last step",
            labels=["strategy"],
        )
        for pk, _name, seconds, _error in running:
            if seconds is not None:
                age.add_metric([str(pk)], seconds)
        yield from (by_status, age)


def backtest_overview() -> tuple[dict[str, int], float | None] | None:
    """(count by status, age in seconds of the oldest queued run) or None before the model."""
    run = model_or_none("backtest", "BacktestRun")
    if run is None:
        return None
    counts = dict(
        run.objects.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    oldest = run.objects.filter(status="QUEUED").aggregate(at=Min("created_at"))["at"]
    return counts, (timezone.now() - oldest).total_seconds() if oldest else None


class BacktestsCollector:
    def collect(self) -> Iterator[Metric]:
        overview = backtest_overview()
        if overview is None:
            return
        counts, oldest = overview
        gauge = GaugeMetricFamily("tradingbot_backtests", "Backtest runs by status", labels=["status"])
        for status in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED"):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge
        yield GaugeMetricFamily(
            "tradingbot_backtest_oldest_queued_age_seconds", "Age of the oldest queued run", value=oldest or 0
        )


def named_collectors() -> dict[str, Collector]:
    execution = execution_metrics
    return {
        "orders": execution.OrdersCollector(),
        "outbox": execution.OutboxCollector(),
        "reconciliation": execution.ReconciliationCollector(),
        "user_streams": execution.UserStreamCollector(),
        "risk": risk_metrics.RiskCollector(),
        "celery_queues": CeleryQueuesCollector(),
        "strategies": StrategiesCollector(),
        "backtests": BacktestsCollector(),
    }


class ScrapeCollector:
    """Runs every named collector, each in its own savepoint, and reports which worked."""

    def __init__(self, collectors: dict[str, Collector] | None = None) -> None:
        self.collectors = collectors if collectors is not None else named_collectors()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "tradingbot_collector_up", "1 if the scrape-time collector answered", labels=["collector"]
        )
        seconds = GaugeMetricFamily(
            "tradingbot_collector_duration_seconds", "Time the collector took", labels=["collector"]
        )
        for name, collector in self.collectors.items():
            started = time.perf_counter()
            try:
                with transaction.atomic():  # a failed query must not break the ones after it
                    families = list(collector.collect())
            except Exception:  # noqa: BLE001 - reported as collector_up 0, never a failed scrape
                logger.warning("metrics collector %s failed", name, exc_info=True)
                families, ok = [], 0
            else:
                ok = 1
            up.add_metric([name], ok)
            seconds.add_metric([name], time.perf_counter() - started)
            yield from families
        yield from (up, seconds)
