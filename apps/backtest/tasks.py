"""Backtest tasks: thin, call a service. Routed to the `backtest` queue by tradingbot/celery.py."""

from __future__ import annotations

from celery import shared_task

from apps.backtest import services


@shared_task(name="apps.backtest.tasks.run_backtest", acks_late=True)
def run_backtest(run_id: int) -> str:
    """Execute one queued run; returns its final status (FAILED runs carry the error)."""
    return str(services.execute_backtest(run_id=run_id).status)
