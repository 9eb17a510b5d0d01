"""Reconciliation: make the books match the venue, whatever the stream missed.

One run per account at a time (a PostgreSQL advisory lock). Calls, cheapest first:

1. `openOrders` per symbol with local activity (weight 6 each).
2. A targeted `GET order` by client order id (weight 4) only for local non-final orders the
   venue did not list as open, and for NEW orders past their grace period.
3. `myTrades` from the per-symbol cursor (+1), paged by 1,000 (weight 20 a page); each page
   goes through `apply_fills` in chunks of 200 trades, one transaction each (dedup makes
   overlap with the live stream harmless).
4. `account` for balances (weight 20), published as `balance.reported`; a registered
   comparator (portfolio) reports drift.

Resolution table for orders the venue does not list as open (after the single-order query):

| local | venue says | action |
| --- | --- | --- |
| NEW (past grace) | found | record SUBMITTED (+ venue id); later states as below |
| NEW (past grace) | not found, younger than the resubmit window | re-queue the send (it looks up first) |
| NEW (past grace) | not found, older | REJECTED `lost_submission` |
| open (SUBMITTED, PARTIALLY_FILLED, CANCEL_REQUESTED) | final | fills first, then the venue's status |
| open | not found | fills first; then CANCELED `venue_lost_order` if it had a venue id, else REJECTED |
| CANCEL_REQUESTED for longer than the grace period | still open | send the cancel again (its task was lost) |

Orders open on the venue that we do not know are recorded as external (`is_external`,
`external_detected` event) and counted; their trades are booked to them.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.domain import FINAL_ORDER_STATUSES, OrderStatus, OrderType, Side
from apps.exchange.adapter import ExchangeAdapter
from apps.exchange.domain import VenueBalance, VenueOrder
from apps.exchange.errors import OrderNotFound, VenueError
from apps.execution import tasks
from apps.execution.models import (
    ExchangeAccount,
    Order,
    OrderEvent,
    ReconciliationCursor,
    ReconciliationRun,
)
from apps.execution.venues import adapter_for

from .orders import SubmissionPending, dispatch_send, send_cancel_to_exchange
from .transitions import lock_order, record_event, record_transition
from .venue_events import apply_trades, record_account_position_balances

logger = logging.getLogger(__name__)

OPEN_STATUSES = (
    OrderStatus.NEW,
    OrderStatus.SUBMITTED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.CANCEL_REQUESTED,
)
Progress = Callable[[str], None]
BalanceComparator = Callable[[int, list[VenueBalance]], dict[str, Any]]
_balance_comparators: list[BalanceComparator] = []


def register_balance_comparator(comparator: BalanceComparator) -> None:
    """Portfolio registers how venue balances compare with its books (drift per asset)."""
    if comparator not in _balance_comparators:
        _balance_comparators.append(comparator)


@dataclass
class _Tally:
    orders_checked: int = 0
    fills_repaired: int = 0
    orders_resolved: int = 0
    external_orders: int = 0
    errors: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def reconcile_account(
    *, account_id: int, trigger: str = "beat", since: datetime | None = None, progress: Progress | None = None
) -> ReconciliationRun:
    """Compare and repair one account; returns the recorded run (SKIPPED if one is running)."""
    with _account_lock(account_id) as acquired:
        if not acquired:
            return ReconciliationRun.objects.create(
                account_id=account_id,
                trigger=trigger,
                status=ReconciliationRun.Status.SKIPPED,
                finished_at=timezone.now(),
            )
        run = ReconciliationRun.objects.create(account_id=account_id, trigger=trigger)
        account = ExchangeAccount.objects.get(pk=account_id)
        adapter = adapter_for(account)
        before = (getattr(adapter, "requests_sent", 0), getattr(adapter, "weight_spent", 0))
        tally = _Tally()
        try:
            _reconcile(account, adapter, tally, since, progress or (lambda message: None))
            status = (
                ReconciliationRun.Status.SUCCEEDED if not tally.errors else ReconciliationRun.Status.FAILED
            )
        except VenueError as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc.message}")
            status = ReconciliationRun.Status.FAILED
        _finish(run, tally, status, adapter, before)
        return run


@contextmanager
def _account_lock(account_id: int) -> Iterator[bool]:
    key = zlib.crc32(b"reconcile") << 31 | account_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _finish(
    run: ReconciliationRun, tally: _Tally, status: str, adapter: ExchangeAdapter, before: tuple[int, int]
) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.orders_checked = tally.orders_checked
    run.fills_repaired = tally.fills_repaired
    run.orders_resolved = tally.orders_resolved
    run.external_orders = tally.external_orders
    run.requests_made = getattr(adapter, "requests_sent", 0) - before[0]
    run.weight_used = getattr(adapter, "weight_spent", 0) - before[1]
    run.errors = tally.errors
    run.balance_drift = tally.details.pop("balance_drift", {})
    run.details = tally.details
    run.save()


def _reconcile(
    account: ExchangeAccount,
    adapter: ExchangeAdapter,
    tally: _Tally,
    since: datetime | None,
    progress: Progress,
) -> None:
    symbols = _active_symbols(account.pk)
    progress(f"{len(symbols)} symbol(s) to check")
    venue_final: dict[int, VenueOrder] = {}
    for index, symbol in enumerate(symbols, 1):
        venue_open = {o.client_order_id: o for o in adapter.open_orders(symbol=symbol)}
        local = list(Order.objects.filter(account=account, symbol=symbol, status__in=OPEN_STATUSES))
        for order in local:
            tally.orders_checked += 1
            _check_order(order, venue_open.pop(order.client_order_id, None), adapter, tally, venue_final)
        for venue_order in venue_open.values():
            _record_external(account, venue_order, tally)
        tally.fills_repaired += _sync_trades(account, symbol, adapter, since)
        progress(
            f"[{index}/{len(symbols)}] {symbol}: {len(local)} open, {tally.fills_repaired} fills repaired"
        )
    for order_id, venue_order in venue_final.items():
        tally.orders_resolved += _settle_final(order_id, venue_order)
    _check_balances(account, adapter, tally)


def _active_symbols(account_id: int) -> list[str]:
    """Symbols with local activity: open orders, a cursor, or fills in the last day."""
    recent = timezone.now() - timedelta(days=1)
    symbols = set(
        Order.objects.filter(account_id=account_id)
        .filter(Q(status__in=OPEN_STATUSES) | Q(updated_at__gte=recent))
        .values_list("symbol", flat=True)
    )
    symbols |= set(
        ReconciliationCursor.objects.filter(account_id=account_id).values_list("symbol", flat=True)
    )
    return sorted(symbols)


def _check_order(
    order: Order,
    listed: VenueOrder | None,
    adapter: ExchangeAdapter,
    tally: _Tally,
    venue_final: dict[int, VenueOrder],
) -> None:
    if listed is not None:
        _acknowledge(order.pk, listed)
        if order.status == OrderStatus.CANCEL_REQUESTED and _cancel_overdue(order):
            _resend_cancel(order.pk, tally)
        return
    if order.status == OrderStatus.NEW and order.created_at > timezone.now() - timedelta(
        seconds=settings.RECONCILE_NEW_GRACE_SECONDS
    ):
        return  # its send is most likely still queued
    try:
        venue_order = adapter.get_order(symbol=order.symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        tally.orders_resolved += _resolve_unknown_to_venue(order)
        return
    _acknowledge(order.pk, venue_order)
    venue_final[order.pk] = venue_order


def _cancel_overdue(order: Order) -> bool:
    """Cancel asked for longer than the grace period and the venue still lists the order open:
    its cancel task was lost (broker down, Redis restarted without persistence)."""
    return order.updated_at < timezone.now() - timedelta(seconds=settings.RECONCILE_NEW_GRACE_SECONDS)


def _resend_cancel(order_id: int, tally: _Tally) -> None:
    try:
        send_cancel_to_exchange(order_id=order_id)
    except (SubmissionPending, VenueError) as exc:
        tally.errors.append(f"cancel of order {order_id} re-sent and failed: {exc}")
        return
    tally.details["cancels_resent"] = tally.details.get("cancels_resent", 0) + 1


def _acknowledge(order_id: int, venue_order: VenueOrder) -> None:
    with transaction.atomic():
        order = lock_order(order_id)
        if not order.exchange_order_id:
            order.exchange_order_id = venue_order.exchange_order_id
            order.save(update_fields=["exchange_order_id", "updated_at"])
        if order.status == OrderStatus.NEW:
            order.submit_lease_until = None
            record_transition(order, OrderStatus.SUBMITTED, payload={"source": "reconciliation"})


def _resolve_unknown_to_venue(order: Order) -> int:
    """The venue does not know `order` (as read before the look-up). A young NEW order is sent
    again; otherwise it is closed, unless it changed since it was read (the next run decides)
    or a send attempt's request may still reach the venue (its lease is live: a request is
    only valid at the venue until shortly before its attempt's lease ends, `SendGuard`)."""
    age = timezone.now() - order.created_at
    if order.status == OrderStatus.NEW and age < timedelta(
        seconds=settings.RECONCILE_RESUBMIT_WINDOW_SECONDS
    ):
        order_id = order.pk
        transaction.on_commit(lambda: dispatch_send(order_id))
        return 0
    with transaction.atomic():
        seen_at = order.updated_at
        order = lock_order(order.pk)
        if order.status in FINAL_ORDER_STATUSES or order.updated_at != seen_at:
            return 0
        if order.submit_lease_until is not None and order.submit_lease_until > timezone.now():
            return 0
        if order.filled_quantity == order.quantity:
            return 0  # the fills settle it
        if order.exchange_order_id and order.status != OrderStatus.NEW:
            target, reason = OrderStatus.CANCELED, "venue_lost_order"
        else:
            target, reason = OrderStatus.REJECTED, "lost_submission"
        record_transition(
            order,
            target,
            kind=OrderEvent.Kind.RECONCILED,
            payload={"reason": reason, "venue": "order not found"},
            **({"reject_reason": reason} if target == OrderStatus.REJECTED else {}),
        )
        return 1


def _settle_final(order_id: int, venue_order: VenueOrder) -> int:
    """After the trades are in: take the venue's final status if ours still lags."""
    if venue_order.status not in FINAL_ORDER_STATUSES:
        return 0
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status in FINAL_ORDER_STATUSES:
            return 0
        if order.filled_quantity != venue_order.executed_quantity:
            record_event(
                order,
                OrderEvent.Kind.RECONCILED,
                {"problem": "venue executed quantity differs", "venue": str(venue_order.executed_quantity)},
            )
            return 0
        if venue_order.status == OrderStatus.FILLED:
            return 0  # fills have already moved it
        record_transition(
            order,
            venue_order.status,
            kind=OrderEvent.Kind.RECONCILED,
            payload={
                "venue_status": venue_order.status,
                "venue_executed": str(venue_order.executed_quantity),
            },
        )
        return 1


def _record_external(account: ExchangeAccount, venue_order: VenueOrder, tally: _Tally) -> None:
    if Order.objects.filter(account=account, client_order_id=venue_order.client_order_id).exists():
        return
    with transaction.atomic():
        order = Order.objects.create(
            account=account,
            symbol=venue_order.symbol,
            side=venue_order.side or Side.BUY,
            order_type=venue_order.order_type or OrderType.LIMIT,
            quantity=venue_order.quantity or venue_order.executed_quantity or Decimal(1),
            price=venue_order.price,
            client_order_id=venue_order.client_order_id[:36],
            exchange_order_id=venue_order.exchange_order_id,
            status=OrderStatus.SUBMITTED,
            is_external=True,
        )
        record_event(order, OrderEvent.Kind.EXTERNAL_DETECTED, {"venue_status": venue_order.status})
    logger.warning(
        "account %s: external order %s on %s", account.pk, venue_order.client_order_id, venue_order.symbol
    )
    tally.external_orders += 1


def _sync_trades(
    account: ExchangeAccount, symbol: str, adapter: ExchangeAdapter, since: datetime | None
) -> int:
    cursor = ReconciliationCursor.objects.filter(account=account, symbol=symbol).first()
    from_id = cursor.last_trade_id + 1 if cursor and since is None else 0
    if since is not None:
        first = adapter.trades_since(symbol=symbol, from_trade_id=0, start=since, limit=1)
        if not first:
            return 0
        from_id = first[0].trade_id
    repaired, last_seen = 0, (cursor.last_trade_id if cursor else None)
    # myTrades rows name the venue's order id, not ours: a trade of an order whose send has an
    # unknown outcome (no venue id yet) cannot be tied to it until the order is found. The
    # cursor then stops before that trade, so a later run (after the order is found) books it.
    hold: int | None = None
    unknown_sends = _has_sends_with_unknown_outcome(account, symbol)
    while True:
        trades = adapter.trades_since(symbol=symbol, from_trade_id=from_id)
        outcome = apply_trades(account_id=account.pk, trades=trades)  # a few transactions per page
        repaired += outcome.applied
        if unknown_sends and hold is None and outcome.first_unknown_trade_id is not None:
            hold = outcome.first_unknown_trade_id - 1
        for trade in trades:
            last_seen = trade.trade_id if last_seen is None else max(last_seen, trade.trade_id)
        if len(trades) < 1000:
            break
        from_id = trades[-1].trade_id + 1
    if hold is not None and last_seen is not None:
        last_seen = min(last_seen, hold)
    if last_seen is not None:
        ReconciliationCursor.objects.update_or_create(
            account=account, symbol=symbol, defaults={"last_trade_id": last_seen}
        )
    return repaired


def _has_sends_with_unknown_outcome(account: ExchangeAccount, symbol: str) -> bool:
    return Order.objects.filter(
        account=account, symbol=symbol, status=OrderStatus.NEW, submit_attempts__gt=0, exchange_order_id=""
    ).exists()


def _check_balances(account: ExchangeAccount, adapter: ExchangeAdapter, tally: _Tally) -> None:
    # Stamped with the venue's time of the snapshot, not ours after the reply: a fill made
    # while the request was in flight is not in the snapshot, so it must count as after it.
    snapshot = adapter.balances()
    record_account_position_balances(
        account_id=account.pk, balances=snapshot.balances, event_time=snapshot.as_of, complete=True
    )
    drift: dict[str, Any] = {}
    for comparator in _balance_comparators:
        drift.update(comparator(account.pk, snapshot.balances))
    tally.details["balance_drift"] = drift


def reconcile_active_accounts(*, trigger: str = "beat") -> list[int]:
    """Queue one reconciliation per active account with credentials (beat)."""
    ids = list(
        ExchangeAccount.objects.filter(is_active=True)
        .exclude(api_key_encrypted="")
        .values_list("pk", flat=True)
    )
    for account_id in ids:
        tasks.reconcile_account.delay(account_id, trigger)
    return ids
