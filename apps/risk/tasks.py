"""Risk tasks (thin). The watchdog is routed to the `outbox` queue on purpose: it must run
when the risk workers are down."""

from __future__ import annotations

from celery import shared_task

from apps.risk import services


@shared_task(name="apps.risk.tasks.watchdog")
def watchdog() -> str | None:
    return services.run_watchdog()
