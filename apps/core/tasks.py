"""Core periodic work (thin: each task calls a service)."""

from __future__ import annotations

from celery import shared_task

from apps.core.idempotency.services import purge_expired_keys


@shared_task(name="apps.core.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> int:
    return purge_expired_keys()
