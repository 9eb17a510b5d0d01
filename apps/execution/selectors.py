"""Execution's read API. Everything a user can see is scoped to the accounts they own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from apps.core.errors import NotFound
from apps.core.rows import RowQuery

from .models import ExchangeAccount, Fill, Order, OrderEvent, OutboxEvent, ReconciliationRun

User = AbstractBaseUser | AnonymousUser

OPEN_ORDER_STATUSES = ("NEW", "SUBMITTED", "PARTIALLY_FILLED", "CANCEL_REQUESTED")


def accounts_for(user: User) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(owner_id=user.pk)


def orders_for(user: User) -> QuerySet[Order]:
    return Order.objects.filter(account__owner_id=user.pk).select_related("account")


def fills_for(user: User) -> QuerySet[Fill]:
    return Fill.objects.filter(account__owner_id=user.pk)


def get_order_for(user: User, order_id: int) -> Order:
    """The user's order, or NotFound — also for someone else's order (no existence leak)."""
    order = orders_for(user).filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


# `accounts_for(user).filter(pk=…)` with its SQL written once: this lookup is on every order
# the API takes (apps/core/rows.py says what it saves).
_OWNED_ACCOUNT = RowQuery(ExchangeAccount, where='"id" = %s AND "owner_id" = %s')


def get_account_for(user: User, account_id: int) -> ExchangeAccount:
    """The user's account, or NotFound — also for someone else's (no existence leak)."""
    account = _OWNED_ACCOUNT.first(account_id, user.pk)
    if account is None:
        raise NotFound("No such account.", field="account")
    return account


def events_of(order: Order) -> QuerySet[OrderEvent]:
    return order.events.order_by("id")


def last_successful_reconciliation_at(account_id: int) -> datetime | None:
    """When the account's books were last confirmed against the venue (None: never)."""
    run = (
        ReconciliationRun.objects.filter(account_id=account_id, status=ReconciliationRun.Status.SUCCEEDED)
        .order_by("-finished_at")
        .only("finished_at")
        .first()
    )
    return run.finished_at if run else None


@dataclass(frozen=True)
class PendingAccountEvent:
    """The oldest of an account's events (fills, balance reports) not yet delivered to its
    consumers. Everything the account's events carry from `created_at` on may be missing
    from what consumers (portfolio) derive from them."""

    created_at: datetime
    # It failed at least once and waits for a retry: the account's later events wait behind it.
    held_back: bool


def oldest_pending_account_event(account_id: int) -> PendingAccountEvent | None:
    """The account's oldest undelivered outbox event, None when all are delivered.

    One probe of the partial index `outbox_agg_pending_idx` (pending rows
    only, by aggregate and id): readers of positions call it on the order-intake path. The
    oldest by id is the one the relay delivers next (per-aggregate id order), so it is the
    one a failure holds the rest behind."""
    row = (
        OutboxEvent.objects.filter(
            aggregate_type="account", aggregate_id=str(account_id), published_at__isnull=True
        )
        .order_by("id")
        .values_list("created_at", "attempts", "next_attempt_at")
        .first()
    )
    if row is None:
        return None
    created_at, attempts, next_attempt_at = row
    return PendingAccountEvent(created_at=created_at, held_back=attempts > 0 or next_attempt_at is not None)


@dataclass(frozen=True)
class OpenOrderReservation:
    """What an account's open orders could still add: remaining buy quantity and notional."""

    open_orders: int
    buy_quantity: Decimal
    buy_notional: Decimal


def open_order_reservation(account_id: int, symbol: str | None = None) -> OpenOrderReservation:
    """Exposure reserved by open orders (priced at their limit; MARKET orders are sent at
    once, so they reserve at their own submission check only). One aggregate query: exact
    NUMERIC arithmetic in PostgreSQL, however many orders are open."""
    orders = Order.objects.filter(account_id=account_id, status__in=OPEN_ORDER_STATUSES)
    if symbol:
        orders = orders.filter(symbol=symbol)
    money: DecimalField[Decimal, Decimal] = DecimalField(max_digits=76, decimal_places=36)
    remaining = ExpressionWrapper(F("quantity") - F("filled_quantity"), output_field=money)
    buying = Q(side="BUY")
    totals = orders.aggregate(
        count=Count("pk"),
        buy_quantity=Sum(remaining, filter=buying, output_field=money),
        buy_notional=Sum(
            ExpressionWrapper(remaining * Coalesce(F("price"), Value(0)), output_field=money),
            filter=buying,
            output_field=money,
        ),
    )
    zero = Decimal(0)
    return OpenOrderReservation(
        open_orders=totals["count"],
        buy_quantity=totals["buy_quantity"] or zero,
        buy_notional=totals["buy_notional"] or zero,
    )
