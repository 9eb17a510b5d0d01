"""Execution tasks: thin, load by id, call a service. Routed by tradingbot/celery.py."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.execution import services
from apps.execution.services.orders import SubmissionPending

# SubmissionPending: the venue's answer is unknown or another worker holds the send. The next
# attempt looks the order up by client order id first, so retrying with backoff is safe.
#
# ignore_result: the outcome is in the order's row and events; nobody reads a task result. With
# the Redis result backend, publishing a task whose result is kept also SUBSCRIBEs the web
# process to that task's result channel, one more channel per order for the process's life.


@shared_task(
    name="apps.execution.tasks.submit_order_to_exchange",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(SubmissionPending,),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=None,
)
def submit_order_to_exchange(order_id: int) -> str:
    return str(services.send_order_to_exchange(order_id=order_id).status)


@shared_task(
    name="apps.execution.tasks.cancel_order_on_exchange",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(SubmissionPending,),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=None,
)
def cancel_order_on_exchange(order_id: int) -> str:
    return str(services.send_cancel_to_exchange(order_id=order_id).status)


@shared_task(name="apps.execution.tasks.relay_outbox")
def relay_outbox() -> int:
    return services.relay_outbox()


@shared_task(name="apps.execution.tasks.sweep_outbox")
def sweep_outbox() -> int:
    """Beat: deliver whatever the on-commit nudges missed (broker down, crash, backoff)."""
    return services.relay_outbox()


@shared_task(name="apps.execution.tasks.prune_outbox")
def prune_outbox() -> int:
    return services.prune_published_events(older_than=timedelta(days=settings.OUTBOX_RETENTION_DAYS))


@shared_task(
    name="apps.execution.tasks.reconcile_account", acks_late=True, time_limit=600, soft_time_limit=540
)
def reconcile_account(account_id: int, trigger: str = "beat") -> str:
    return str(services.reconcile_account(account_id=account_id, trigger=trigger).status)


@shared_task(name="apps.execution.tasks.reconcile_active_accounts", expires=55)
def reconcile_active_accounts() -> list[int]:
    return services.reconcile_active_accounts()
