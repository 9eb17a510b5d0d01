"""Execution's public write API. Other apps call only these functions."""

from .accounts import create_account
from .fills import FillOutcome, FillReport, FillResult, OrderOverfilled, apply_fill, apply_fills
from .orders import (
    SubmitOutcome,
    lock_open_orders,
    request_cancel,
    send_cancel_to_exchange,
    send_order_to_exchange,
    submit_order,
    transition_order,
)
from .outbox import emit_event, prune_published_events, register_consumer, relay_outbox
from .reconciliation import reconcile_account, reconcile_active_accounts, register_balance_comparator

__all__ = [
    "FillOutcome",
    "FillReport",
    "FillResult",
    "OrderOverfilled",
    "SubmitOutcome",
    "apply_fill",
    "apply_fills",
    "create_account",
    "emit_event",
    "lock_open_orders",
    "prune_published_events",
    "reconcile_account",
    "reconcile_active_accounts",
    "register_balance_comparator",
    "register_consumer",
    "relay_outbox",
    "request_cancel",
    "send_cancel_to_exchange",
    "send_order_to_exchange",
    "submit_order",
    "transition_order",
]
