"""Celery worker lifecycle (not domain flow): a worker that consumes the `risk` queue
publishes the risk heartbeat for as long as it runs."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from .services.health import start_heartbeat_thread


@worker_ready.connect
def _start_risk_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", [])}
    if "risk" in queues:
        start_heartbeat_thread()
