"""Portfolio tasks: thin, call a service. Routed to the `outbox` queue by tradingbot/celery.py."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.portfolio import services


@shared_task(name="apps.portfolio.tasks.take_daily_snapshots")
def take_daily_snapshots() -> int:
    return services.take_daily_snapshots()


@shared_task(name="apps.portfolio.tasks.prune_processed_events")
def prune_processed_events() -> int:
    """Processed ids are kept twice as long as published outbox events."""
    return services.prune_processed_events(older_than=timedelta(days=2 * settings.OUTBOX_RETENTION_DAYS))
