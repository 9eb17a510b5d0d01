"""Portfolio's consumers of execution's outbox (`fill.recorded`, `balance.reported`).

The relay calls each handler inside a savepoint of its own transaction. A handler records the
event id in `ProcessedEvent` (unique) in the same transaction as its update, so a redelivery
is a no-op; an exception rolls its savepoint back and the relay retries the event later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.decimals import parse_decimal
from apps.core.domain import Side
from apps.execution.services import register_balance_comparator, register_consumer
from apps.execution.services.outbox import OutboxMessage
from apps.portfolio.models import ProcessedEvent

from .balances import ReportedBalance, compare_with_venue, record_balances
from .positions import FillRecorded, apply_fill_to_position

logger = logging.getLogger(__name__)

CONSUMER_NAME = "portfolio"
FILL_RECORDED = "fill.recorded"
BALANCE_REPORTED = "balance.reported"


def register_consumers() -> None:
    """Subscribe to execution's outbox and lend reconciliation our balance comparison."""
    register_consumer(event_type=FILL_RECORDED, name=CONSUMER_NAME, handler=handle_fill_recorded)
    register_consumer(event_type=BALANCE_REPORTED, name=CONSUMER_NAME, handler=handle_balance_reported)
    register_balance_comparator(compare_with_venue)


def handle_fill_recorded(message: OutboxMessage) -> None:
    with transaction.atomic():
        if not claim_event(message):
            return
        apply_fill_to_position(fill=parse_fill_payload(message.payload), event_id=message.id)


def handle_balance_reported(message: OutboxMessage) -> None:
    payload = message.payload
    with transaction.atomic():
        if not claim_event(message):
            return
        record_balances(
            account_id=int(payload["account_id"]),
            reported_at=_datetime(payload["event_time"]),
            balances=[
                ReportedBalance(
                    asset=str(b["asset"]),
                    free=parse_decimal(b["free"], field="free"),
                    locked=parse_decimal(b["locked"], field="locked"),
                )
                for b in payload["balances"]
            ],
            source=str(payload.get("source") or "account_update"),
            complete=bool(payload.get("complete", False)),
        )


def claim_event(message: OutboxMessage) -> bool:
    """Record the event as processed in the caller's transaction; False if it already was.

    A concurrent delivery of the same event blocks on the unique index until the first
    transaction ends, then finds it (and does nothing) or takes over (if that one rolled back).
    """
    try:
        with transaction.atomic():
            ProcessedEvent.objects.create(
                consumer=CONSUMER_NAME, event_id=message.id, event_type=message.event_type
            )
    except IntegrityError:
        logger.info("outbox event %s already processed; skipped", message.id)
        return False
    return True


def prune_processed_events(*, older_than: timedelta) -> int:
    """Forget processed ids older than `older_than`; returns how many.

    Safe once the outbox rows are gone: a claim commits with the relay's "published" mark, and
    published rows are pruned after OUTBOX_RETENTION_DAYS, so an older event cannot come back.
    (Should one be replayed by hand, fills are still guarded by their unique fill id and an old
    balance report is older than the stored one, so it is ignored.)
    """
    cutoff = timezone.now() - older_than
    deleted, _ = ProcessedEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted


def parse_fill_payload(payload: dict[str, Any]) -> FillRecorded:
    return FillRecorded(
        fill_id=int(payload["fill_id"]),
        order_id=int(payload["order_id"]),
        account_id=int(payload["account_id"]),
        symbol=str(payload["symbol"]),
        side=Side(payload["side"]),
        price=parse_decimal(payload["price"], field="price"),
        quantity=parse_decimal(payload["quantity"], field="quantity"),
        quote_quantity=parse_decimal(payload["quote_quantity"], field="quote_quantity"),
        commission=parse_decimal(payload.get("commission") or "0", field="commission"),
        commission_asset=str(payload.get("commission_asset") or ""),
        executed_at=_datetime(payload["executed_at"]),
    )


def _datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return parsed
