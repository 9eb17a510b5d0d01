"""Order intake, submission to the venue, and cancellation.

Intake (`submit_order`) checks and persists NEW in one transaction, holding the account's
intake lock from before the check until the commit, and, after commit, queues the send on
the `execution` queue. The send (`send_order_to_exchange`) is safe to run twice: it marks an
attempt *before* the network call, so after a crash the next attempt looks the order up by
client order id instead of sending a second order. That look-up can be trusted because each
attempt holds a lease on the order and its request is only valid at the venue until shortly
before the lease ends (`SendGuard`): an order the venue does not know once the lease is over
will never arrive there. The same guard checks the kill switch at the last moment before
the request, after any wait for the venue's rate limits.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Q
from django.utils import timezone

from apps.core import broker
from apps.core.domain import (
    FINAL_ORDER_STATUSES,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    conform_to_filters,
)
from apps.core.errors import Conflict, ErrorCode, ServiceUnavailable, Unprocessable, ValidationFailed
from apps.exchange.adapter import ExchangeAdapter, SendGuard
from apps.exchange.domain import OrderRequest, VenueOrder
from apps.exchange.errors import (
    FatalVenueError,
    InvalidOrder,
    OrderNotFound,
    OrderNotSent,
    TemporaryVenueError,
    VenueError,
)
from apps.exchange.selectors import get_symbol_filters
from apps.execution import gates, tasks
from apps.execution.models import ExchangeAccount, Order, OrderEvent
from apps.execution.venues import adapter_for

from .transitions import lock_order, record_event, record_transition

logger = logging.getLogger(__name__)

CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
SUBMIT_LEASE = timedelta(seconds=30)
#: The venue must refuse a send's request this long before its lease ends: room for the error
#: of the venue-clock offset and for clock differences between workers.
SEND_DEADLINE_MARGIN = timedelta(seconds=2)
KILL_SWITCH = str(ErrorCode.KILL_SWITCH_ACTIVE)
CANCELED_BEFORE_SEND = "canceled_before_send"
_UNIQUE_CLIENT_ID = "execution_order_client_id_uniq"
# First key of the two-key advisory lock that serializes one account's intakes (`_lock_intake`).
# Two-key locks are a space apart from one-key ones (reconciliation's), and this first key is
# not the outbox's per-aggregate one (`outbox._AGGREGATE_LOCK_SPACE`).
_INTAKE_LOCK_SPACE = zlib.crc32(b"order-intake") - 2**31


@dataclass(frozen=True)
class SubmitOutcome:
    order: Order
    created: bool


class SubmissionPending(Exception):
    """The venue's answer is unknown or another worker is sending: retry later."""


def new_client_order_id() -> str:
    return "tb-" + secrets.token_hex(16)


def submit_order(
    *,
    account: ExchangeAccount,
    symbol: str,
    side: Side | str,
    order_type: OrderType | str,
    quantity: Decimal,
    price: Decimal | None = None,
    time_in_force: TimeInForce | str | None = None,
    client_order_id: str | None = None,
    strategy_id: int | None = None,
) -> SubmitOutcome:
    """Validate and persist an order, idempotently on (account, client_order_id).

    A retry with the same client order id returns the existing order (created=False); the
    same id with different terms is a 409. The kill switch and risk are asked first, in the
    transaction that inserts the order and under the account's intake lock (`_lock_intake`);
    a denied order is refused (409 / 422 with the reason codes) before anything is written.
    """
    side, order_type = Side(side), OrderType(order_type)
    tif = _validate_terms(account, symbol, side, order_type, quantity, price, time_in_force)
    if not client_order_id:
        cid = new_client_order_id()  # 128 random bits: no order can have it yet, nothing to look up
    else:
        cid = client_order_id
        if not CLIENT_ORDER_ID_RE.match(cid):
            raise ValidationFailed(
                "client_order_id must be 1-36 of A-Z a-z 0-9 _ -.", field="client_order_id"
            )
        existing = Order.objects.filter(account=account, client_order_id=cid).first()
        if existing is not None:
            return _same_order_or_conflict(existing, symbol, side, order_type, quantity, price)

    try:
        # One transaction from the check to the insert. A check whose verdict reads the
        # account's state (open orders, position, exposure) takes the account's intake lock
        # just before it reads it (or, a check that does not, is asked again under it): it
        # sees every order accepted before, and no other intake of the account checks until
        # this one has committed (or rolled back). Inside a caller's
        # transaction (the API's Idempotency-Key, a strategy step) it is the caller's, and the
        # lock is held to its end. An account whose limits read nothing of its state (none,
        # or order notional only) is not serialized: there is nothing two intakes could race
        # for. A savepoint only where a duplicate can happen (the caller's own client order
        # id): inside a caller's transaction it costs two round trips.
        with transaction.atomic(savepoint=bool(client_order_id)):
            lock = _IntakeLock(account.pk)
            refusal, stateful = _refusal(account, symbol, side, order_type, quantity, price, lock)
            if stateful and not lock.taken:  # a check that read the account without the lock
                lock()
                refusal, _ = _refusal(account, symbol, side, order_type, quantity, price, lock)
            if refusal is None:
                order = _insert_new(account, symbol, side, order_type, tif, quantity, price, cid, strategy_id)
    except IntegrityError as exc:
        if _constraint_of(exc) != _UNIQUE_CLIENT_ID:
            raise
        existing = Order.objects.get(account=account, client_order_id=cid)
        return _same_order_or_conflict(existing, symbol, side, order_type, quantity, price)
    # Raised once out of the block: an exception through a block without a savepoint would
    # doom the caller's transaction (the strategy step goes on after a refusal).
    if refusal is not None:
        raise refusal
    return SubmitOutcome(order=order, created=True)


class _IntakeLock:
    """The account's intake lock, taken at most once per intake: by the check, just before it
    reads the account's state (`OrderProposal.before_state_read`), or after it."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.taken = False

    def __call__(self) -> None:
        if not self.taken:
            _lock_intake(self.account_id)
            self.taken = True


def _lock_intake(account_id: int) -> None:
    """Wait for any other intake of the account in flight, and hold the account until this
    transaction ends (`pg_advisory_xact_lock`: released at commit or rollback, never leaked).
    Check-then-insert is then serial per account, so two concurrent orders cannot both pass a
    limit only one of them fits under (max_open_orders, position, exposure); other accounts are
    not held up. One round trip per order. The account id is folded into the lock's int4 key:
    ids 2**32 apart share a lock, which only serializes them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [_INTAKE_LOCK_SPACE, account_id % 2**32 - 2**31]
        )


def _insert_new(
    account: ExchangeAccount,
    symbol: str,
    side: Side,
    order_type: OrderType,
    tif: str,
    quantity: Decimal,
    price: Decimal | None,
    cid: str,
    strategy_id: int | None,
) -> Order:
    """The NEW order and its `created` event; its send is queued when the transaction commits."""
    order = Order(
        account=account,
        symbol=symbol,
        side=side,
        order_type=order_type,
        time_in_force=tif,
        quantity=quantity,
        price=price,
        client_order_id=cid,
        strategy_id=strategy_id,
    )
    created = OrderEvent(
        kind=OrderEvent.Kind.CREATED, to_status=OrderStatus.NEW, payload={"client_order_id": cid}
    )
    _insert_with_event(order, created)
    order_id = order.pk
    transaction.on_commit(lambda: dispatch_send(order_id))
    return order


@functools.cache
def _order_with_event_statement() -> tuple[list[Field[Any, Any]], list[Field[Any, Any]], str]:
    """The fields and the SQL of `_insert_with_event`, from model metadata: built once, not on
    every order."""
    quote = connection.ops.quote_name
    order_fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
    event_fields = [f for f in OrderEvent._meta.concrete_fields if not f.primary_key and f.name != "order"]
    order_table, event_table = quote(Order._meta.db_table), quote(OrderEvent._meta.db_table)
    order_pk, event_pk = quote(Order._meta.pk.column), quote(OrderEvent._meta.pk.column)
    event_order = quote(OrderEvent._meta.get_field("order").column)
    order_columns = ", ".join(quote(f.column) for f in order_fields)
    event_columns = ", ".join(quote(f.column) for f in event_fields)
    sql = (
        f"WITH o AS (INSERT INTO {order_table} ({order_columns}) "  # noqa: S608 - model metadata
        f"VALUES ({', '.join(['%s'] * len(order_fields))}) RETURNING {order_pk}) "
        f"INSERT INTO {event_table} ({event_order}, {event_columns}) "
        f"SELECT o.{order_pk}, {', '.join(['%s'] * len(event_fields))} FROM o "
        f"RETURNING {event_order}, {event_pk}"
    )
    return order_fields, event_fields, sql


def _insert_with_event(order: Order, event: OrderEvent) -> None:
    """INSERT a new order and its first event in one statement (`WITH o AS (INSERT … RETURNING
    id) INSERT … SELECT … FROM o`): one round trip instead of two ORM saves on every order.
    Column values come from the model's own fields (defaults, auto_now, JSON), as the ORM's
    INSERT would write them; the unique client-order-id constraint is raised the same way."""
    order_fields, event_fields, sql = _order_with_event_statement()
    values = [f.get_db_prep_save(f.pre_save(order, add=True), connection) for f in order_fields]
    values += [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in event_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        order.pk, event.pk = cursor.fetchone()
    event.order = order
    for saved in (order, event):
        saved._state.adding = False
        saved._state.db = connection.alias


def _validate_terms(
    account: ExchangeAccount,
    symbol: str,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    time_in_force: TimeInForce | str | None,
) -> str:
    if not account.is_active:
        raise ValidationFailed("The account is not active.", code=ErrorCode.ACCOUNT_INACTIVE, field="account")
    filters = get_symbol_filters(exchange=account.exchange, symbol=symbol)
    if filters is None:
        raise ValidationFailed(f"Unknown symbol {symbol}.", code=ErrorCode.UNKNOWN_SYMBOL, field="symbol")
    if order_type == OrderType.MARKET:
        if price is not None:
            raise ValidationFailed("A MARKET order must not have a price.", field="price")
        if time_in_force:
            raise ValidationFailed("A MARKET order takes no time in force.", field="time_in_force")
    elif price is None:
        raise ValidationFailed(f"A {order_type} order needs a price.", field="price")
    # MARKET orders have no price to check the notional against here; the venue checks it.
    conform_to_filters(filters, side=side, quantity=quantity, price=price)
    if order_type == OrderType.LIMIT:
        return str(TimeInForce(time_in_force or TimeInForce.GTC))
    if order_type == OrderType.LIMIT_MAKER and time_in_force:
        raise ValidationFailed("A LIMIT_MAKER order takes no time in force.", field="time_in_force")
    return ""


class KillSwitchActive(Conflict):
    default_code = ErrorCode.KILL_SWITCH_ACTIVE


class RiskRejected(Unprocessable):
    default_code = ErrorCode.RISK_LIMIT_EXCEEDED


def _refusal(
    account: ExchangeAccount,
    symbol: str,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    before_state_read: Callable[[], None],
) -> tuple[KillSwitchActive | RiskRejected | None, bool]:
    """Kill switch, then risk: why the order is refused (or None), and whether the verdict
    read the account's state (then `submit_order` asks again under the intake lock). Both are
    asked in one call (`gates.admit`: one Redis round trip with risk's implementation)."""
    admission = gates.admit(
        gates.OrderProposal(
            account_id=account.pk,
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            before_state_read=before_state_read,
        )
    )
    verdict = admission.verdict
    if admission.kill_switch_active or verdict is None:
        return KillSwitchActive("The kill switch is on: no new orders are accepted."), False
    if not verdict.approved:
        refused = RiskRejected(
            "; ".join(d.message for d in verdict.denials),
            details={"reasons": [{"code": d.code, "message": d.message} for d in verdict.denials]},
        )
        return refused, verdict.reads_account_state
    return None, verdict.reads_account_state


def _same_order_or_conflict(
    order: Order, symbol: str, side: Side, order_type: OrderType, quantity: Decimal, price: Decimal | None
) -> SubmitOutcome:
    same = (order.symbol, order.side, order.order_type, order.quantity, order.price) == (
        symbol,
        side,
        order_type,
        quantity,
        price,
    )
    if not same:
        raise Conflict(
            "This client_order_id belongs to an order with different terms.",
            code=ErrorCode.CLIENT_ORDER_ID_CONFLICT,
            field="client_order_id",
        )
    return SubmitOutcome(order=order, created=False)


def _constraint_of(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


# --- sending to the venue -------------------------------------------------------------------


def send_order_to_exchange(*, order_id: int) -> Order:
    """Hand a NEW order to its venue and record the answer. Safe under duplicate delivery."""
    account = ExchangeAccount.objects.get(orders__pk=order_id)
    try:
        adapter = adapter_for(account)
    except ServiceUnavailable as exc:
        if Order.objects.filter(pk=order_id, submit_attempts=0).exists():
            return _deny_unsent(order_id, "no_venue_adapter", exc.message)
        raise SubmissionPending(exc.message) from exc  # it may be on the venue: never reject blind
    order, outcome_unknown = _claim_send(order_id)
    lease = order.submit_lease_until
    if order.status != OrderStatus.NEW or lease is None:
        return order  # nothing to send: already answered, canceled or denied
    try:
        venue_order = _find_on_venue(adapter, order) if outcome_unknown else None
    except VenueError as exc:  # no answer about the order (a 403, a clock skew…): still unknown
        _finish_unknown(order_id, exc)
        raise SubmissionPending(str(exc)) from exc
    try:
        if venue_order is None:
            venue_order = adapter.place_order(_request_of(order), guard=_send_guard(order_id, lease))
    except OrderNotSent as exc:
        if exc.code in (KILL_SWITCH, CANCELED_BEFORE_SEND):
            return _deny_unsent(order_id, exc.code, exc.message, lease)
        _record_not_sent(order_id, exc)
        raise SubmissionPending(exc.message) from exc
    except (InvalidOrder, FatalVenueError) as exc:
        return _finish_rejected(order_id, exc.message, exc.venue_code, lease)
    except TemporaryVenueError as exc:
        _finish_unknown(order_id, exc)
        raise SubmissionPending(str(exc)) from exc
    return _finish_acknowledged(order_id, venue_order)


def _send_guard(order_id: int, lease: datetime) -> SendGuard:
    """This attempt's guard, asked when the request leaves: the kill switch, the order still
    NEW (not canceled while the send waited), and the lease."""
    deadline = (lease - SEND_DEADLINE_MARGIN).timestamp()
    return SendGuard(deadline=deadline, refusal=functools.partial(_send_refusal, order_id))


def _send_refusal(order_id: int) -> str | None:
    if gates.kill_switch_active():
        return KILL_SWITCH
    if not Order.objects.filter(pk=order_id, status=OrderStatus.NEW).exists():
        return CANCELED_BEFORE_SEND
    return None


def _claim_send(order_id: int) -> tuple[Order, bool]:
    """Mark a send attempt, committed BEFORE the network call, under a short lease.

    Returns the order and whether an earlier attempt's outcome is unknown (look it up first).
    An order that is not NEW, or is refused by the kill switch, comes back without a lease.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status != OrderStatus.NEW:
            return order, False
        now = timezone.now()
        if order.submit_lease_until and order.submit_lease_until > now:
            raise SubmissionPending(f"order {order_id} is being sent by another worker")
        outcome_unknown = order.submit_attempts > 0
        if not outcome_unknown and gates.kill_switch_active():
            order.submit_lease_until = None
            _record_denial(order, KILL_SWITCH, "The kill switch is on.")
            return order, False
        order.submit_attempts += 1
        order.submit_lease_until = now + SUBMIT_LEASE
        order.save(update_fields=["submit_attempts", "submit_lease_until", "updated_at"])
        record_event(order, OrderEvent.Kind.SUBMISSION_ATTEMPT, {"attempt": order.submit_attempts})
        return order, outcome_unknown


def _find_on_venue(adapter: ExchangeAdapter, order: Order) -> VenueOrder | None:
    try:
        return adapter.get_order(symbol=order.symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        return None


def _request_of(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol,
        side=Side(order.side),
        order_type=OrderType(order.order_type),
        quantity=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price,
        time_in_force=TimeInForce(order.time_in_force) if order.time_in_force else None,
    )


def _finish_acknowledged(order_id: int, venue_order: VenueOrder) -> Order:
    with transaction.atomic():
        order = lock_order(order_id)
        order.submit_lease_until = None
        changes: dict[str, Any] = {
            "exchange_order_id": venue_order.exchange_order_id,
            "submitted_at": timezone.now(),
        }
        if order.status == OrderStatus.NEW:
            record_transition(
                order, OrderStatus.SUBMITTED, payload={"venue_status": venue_order.status}, **changes
            )
        else:
            for name, value in changes.items():
                setattr(order, name, value)
            order.save()
        if order.status == OrderStatus.CANCEL_REQUESTED and venue_order.status not in FINAL_ORDER_STATUSES:
            # Canceled while its send was on the wire: that cancel may have reached the venue
            # first ("unknown order"). Now that the venue has the order, cancel it again.
            transaction.on_commit(lambda: _dispatch_cancel(order_id))
        closed_unfilled = venue_order.status in (
            OrderStatus.EXPIRED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
        )
        if closed_unfilled and venue_order.executed_quantity == 0 and order.status == OrderStatus.SUBMITTED:
            record_transition(order, OrderStatus(venue_order.status), payload={"source": "venue_ack"})
        return order


def _finish_rejected(order_id: int, message: str, venue_code: int | None, lease: datetime | None) -> Order:
    with transaction.atomic():
        order = lock_order(order_id)
        if not _holds_lease(order, lease):
            return order
        order.submit_lease_until = None
        if order.status in (OrderStatus.NEW, OrderStatus.CANCEL_REQUESTED):  # canceled while sent
            record_transition(
                order,
                OrderStatus.REJECTED,
                payload={"venue_code": venue_code, "venue_message": message},
                reject_reason=message,
            )
        return order


def _deny_unsent(order_id: int, code: str, message: str, lease: datetime | None = None) -> Order:
    """Refuse locally an order that has not left the process (on this attempt; an earlier
    attempt's request can no longer arrive, and its look-up found nothing). One canceled
    meanwhile (the kill switch's `cancel_open_orders`) is canceled: it never reached the venue."""
    with transaction.atomic():
        order = lock_order(order_id)
        if not _holds_lease(order, lease):
            return order
        order.submit_lease_until = None
        if order.status == OrderStatus.NEW:
            _record_denial(order, code, message)
        elif order.status == OrderStatus.CANCEL_REQUESTED:
            record_transition(order, OrderStatus.CANCELED, payload={"source": "never_sent", "reason": code})
        return order


def _holds_lease(order: Order, lease: datetime | None) -> bool:
    """Whether the attempt that claimed `lease` still owns the order. After its lease ended,
    another attempt may have claimed and sent it: a late answer to the old attempt's request
    (refused, not sent) says nothing about the order then, and must not close it."""
    if lease is None:  # a refusal before any claim: only while no attempt ever claimed it
        return order.submit_attempts == 0
    return order.submit_lease_until == lease


def _record_denial(order: Order, code: str, message: str) -> None:
    record_transition(
        order,
        OrderStatus.REJECTED,
        kind=OrderEvent.Kind.DENIED,
        payload={"reasons": [{"code": code, "message": message}]},
        reject_reason=code,
    )


def _record_not_sent(order_id: int, exc: OrderNotSent) -> None:
    """This attempt did not send: its lease ran out while it waited. The lease is left to run
    out (a moment more): the next attempt claims the order after it and looks it up first."""
    with transaction.atomic():
        order = lock_order(order_id)
        record_event(order, OrderEvent.Kind.VENUE_ERROR, {"error": "OrderNotSent", "code": exc.code})


def _finish_unknown(order_id: int, exc: VenueError) -> None:
    """The answer is unknown: the request may still reach the venue until shortly before this
    attempt's lease ends (`SendGuard`), so the lease is kept. The next attempt can claim the
    order only after it, when a look-up that finds nothing means the order was never placed."""
    with transaction.atomic():
        order = lock_order(order_id)
        order.save(update_fields=["updated_at"])
        record_event(
            order,
            OrderEvent.Kind.VENUE_ERROR,
            {"error": type(exc).__name__, "message": exc.message, "outcome": "unknown"},
        )


# --- transitions and cancellation --------------------------------------------------------------


@transaction.atomic
def transition_order(
    *, order_id: int, target: OrderStatus, payload: dict[str, object] | None = None
) -> Order:
    """Move an order to `target` if the table allows it; otherwise raise and write nothing."""
    order = lock_order(order_id)
    record_transition(order, target, payload=payload)
    return order


@transaction.atomic
def request_cancel(*, order_id: int, requested_by: str) -> Order:
    """Mark an open order CANCEL_REQUESTED and queue the cancel for the venue."""
    order = lock_order(order_id)
    if order.status == OrderStatus.CANCEL_REQUESTED:
        return order
    record_transition(order, OrderStatus.CANCEL_REQUESTED, payload={"requested_by": requested_by})
    transaction.on_commit(lambda: _dispatch_cancel(order_id))
    return order


def lock_open_orders(
    *, account_id: int, client_order_ids: Collection[str] = (), strategy_id: int | None = None
) -> list[int]:
    """Lock the account's open orders named by client order id or belonging to `strategy_id`,
    in ONE statement in id order, until the caller's transaction ends; returns their ids.

    The rule for a transaction that locks several orders (docs/EXECUTION.md): lock them all
    first, in id order, as `apply_fills` does. A caller that then locks them one by one
    (`request_cancel` in a loop, in any order) only re-takes locks it holds, so it can never
    hold one order while waiting for another that a fill burst holds (a deadlock)."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_open_orders must run inside the transaction that uses the locks")
    wanted = Q(client_order_id__in=list(client_order_ids))
    if strategy_id is not None:
        wanted |= Q(strategy_id=strategy_id)
    return list(
        Order.objects.select_for_update()
        .filter(wanted, account_id=account_id)
        .exclude(status__in=FINAL_ORDER_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def dispatch_send(order_id: int) -> None:
    """Queue the send (the message `delay` would send, with less Python: on every order).
    The order is committed as NEW either way: if the broker is down, reconciliation finds it
    past its grace period and queues the send again."""
    try:
        broker.publish_task(tasks.submit_order_to_exchange, order_id)
    except Exception:  # noqa: BLE001 - any broker failure; reconciliation re-queues NEW orders
        logger.warning("broker unavailable: order %s stays NEW until reconciliation sends it", order_id)


def _dispatch_cancel(order_id: int) -> None:
    """Queue the cancel; if the broker is unreachable, send it from here: a cancel only
    reduces risk, so it must not wait for Redis (the kill switch may be why we cancel)."""
    try:
        tasks.cancel_order_on_exchange.delay(order_id)
    except Exception:  # noqa: BLE001 - any broker failure; the direct send below is the fallback
        logger.warning("broker unavailable: sending the cancel of order %s directly", order_id)
        try:
            send_cancel_to_exchange(order_id=order_id)
        except SubmissionPending:
            logger.exception("direct cancel of order %s failed; reconciliation will retry", order_id)


def send_cancel_to_exchange(*, order_id: int) -> Order:
    """Ask the venue to cancel; an order never sent is canceled locally."""
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status != OrderStatus.CANCEL_REQUESTED:
            return order
        if order.submit_attempts == 0:
            record_transition(order, OrderStatus.CANCELED, payload={"source": "never_sent"})
            return order
    try:
        venue_order = adapter_for(order.account).cancel_order(
            symbol=order.symbol, client_order_id=order.client_order_id
        )
    except OrderNotFound as exc:
        # Filled or never arrived: fills and reconciliation settle it; keep the evidence. But
        # while a send holds the order's lease its request may still land (or have landed with
        # its answer lost): try again later rather than leave it live on the venue.
        with transaction.atomic():
            order = lock_order(order_id)
            in_flight = order.submit_lease_until is not None and order.submit_lease_until > timezone.now()
            if in_flight and not order.exchange_order_id:
                raise SubmissionPending(f"order {order_id} may still reach the venue: cancel later") from exc
            record_event(
                order, OrderEvent.Kind.VENUE_ERROR, {"error": "OrderNotFound", "message": exc.message}
            )
            return order
    except TemporaryVenueError as exc:
        raise SubmissionPending(str(exc)) from exc
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status == OrderStatus.CANCEL_REQUESTED and venue_order.status in (
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        ):
            record_transition(order, OrderStatus(venue_order.status), payload={"source": "venue_cancel"})
        return order
