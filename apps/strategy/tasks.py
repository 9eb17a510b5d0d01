"""Strategy tasks (thin): load by id, call the engine. Routed to the `strategy` queue."""

from __future__ import annotations

from celery import shared_task

from apps.strategy.engine import dispatch, step


@shared_task(name="apps.strategy.tasks.run_strategy_step", acks_late=True)
def run_strategy_step(strategy_id: int) -> dict[str, object]:
    result = step.run_strategy_step(strategy_id=strategy_id)
    return {"ran": result.ran, "skipped": result.skipped, "placed": len(result.placed), "error": result.error}


@shared_task(name="apps.strategy.tasks.supervise_strategies")
def supervise_strategies() -> dict[str, list[int]]:
    result = dispatch.supervise_running_strategies()
    return {"paused": result.paused, "due": result.due}


@shared_task(name="apps.strategy.tasks.poll_candles")
def poll_candles() -> dict[str, int]:
    return dispatch.poll_candles()
