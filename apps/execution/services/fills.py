"""Applying fills exactly once, one at a time or a burst in one transaction.

The order rows are locked first (one `SELECT … FOR UPDATE` in id order, so two batches never
deadlock), so every delivery of fills for one order (stream, reconciliation, retries) is
serialized; the fill's unique key (account, symbol, trade id) then makes a duplicate a
counted no-op (the insert skips a conflicting row: the check and the insert are one
statement, multi-row for a batch). Quantities, average price and status follow from the
cumulative quantity, so the result does not depend on delivery order or on how deliveries
are split into batches. `apply_fill` is the one-element batch.

Over-fills: a report that would take an order above its quantity is refused and recorded
(`overfill_rejected` event, ERROR log, counter) in the batch's own transaction, and the
other reports of the batch still apply — one venue error must not cost the rest of a page
of trades. `apply_fills` returns it as `OVERFILL_REJECTED`; `apply_fill` raises
`OrderOverfilled` (after committing the record), as it always did.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from enum import Enum
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Q
from django.utils import timezone
from prometheus_client import Counter

from apps.core.decimals import STORABLE_ARITHMETIC, ratio_to_places
from apps.core.domain import OrderStatus
from apps.core.errors import Conflict, ErrorCode
from apps.execution.models import Fill, Order, OrderEvent, OutboxEvent

from .outbox import emit_events
from .transitions import lock_orders, stage_event, stage_transition

logger = logging.getLogger(__name__)

FILLS_APPLIED = Counter("tradingbot_fills_applied_total", "Fills recorded")
FILLS_DUPLICATE = Counter("tradingbot_fills_duplicate_total", "Fill deliveries dropped as duplicates")
FILLS_OVERFILL = Counter("tradingbot_fills_overfill_total", "Fills refused because they would over-fill")

_OPEN_FOR_PARTIAL = (OrderStatus.SUBMITTED,)


class FillOutcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    OVERFILL_REJECTED = "overfill_rejected"


@dataclass(frozen=True)
class FillReport:
    """One trade as the venue reports it (executionReport `t`, `l`, `L`, `Y`, `n`, `N`, `m`, `T`)."""

    order_id: int
    exchange_fill_id: int
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    executed_at: datetime
    commission: Decimal = Decimal(0)
    commission_asset: str = ""
    is_maker: bool = False


@dataclass(frozen=True)
class FillResult:
    """`order` is the order as the call left it (in a batch: after all of the batch's fills)."""

    outcome: FillOutcome
    order: Order
    fill: Fill | None


class OrderOverfilled(Conflict):
    default_code = ErrorCode.ORDER_OVERFILLED


def apply_fill(*, report: FillReport) -> FillResult:
    """Record a fill once; update the order from its fills; emit `fill.recorded`.

    Raises OrderOverfilled (409) when the fill would over-fill the order; the refusal is
    recorded and committed first."""
    (result,) = apply_fills(reports=[report])
    if result.outcome is FillOutcome.OVERFILL_REJECTED:
        raise OrderOverfilled(
            f"Fill {report.exchange_fill_id} would fill {result.order.filled_quantity + report.quantity} "
            f"of an order for {result.order.quantity}.",
            field="quantity",
        )
    return result


def apply_fills(*, reports: Sequence[FillReport]) -> list[FillResult]:
    """Apply a burst of fills in one transaction; one result per report, in report order.

    Same guarantees as one `apply_fill` per report, in the given order: duplicates (stored
    before, or repeated inside the batch) are no-ops, over-filling reports are refused and
    recorded while the others apply, one `fill.recorded` per new fill. One commit and one
    relay nudge for the batch.
    """
    if not reports:
        return []
    try:
        with transaction.atomic():
            batch = _Batch(reports)
            batch.apply()
    except IntegrityError:
        # The unique trade id is settled by the insert itself (a concurrent insert of the same
        # trade for another order of the account is waited for, then skipped). Any other
        # integrity error is one bad report: a batch falls back to one transaction per report
        # so that the others are not lost; alone, it is counted as a dropped delivery.
        if len(reports) > 1:
            return [result for report in reports for result in apply_fills(reports=[report])]
        FILLS_DUPLICATE.inc()
        return [FillResult(FillOutcome.DUPLICATE, Order.objects.get(pk=reports[0].order_id), None)]
    batch.count()
    return batch.results()


@dataclass
class _Item:
    """One report of a batch and what became of it."""

    report: FillReport
    order: Order
    outcome: FillOutcome = FillOutcome.DUPLICATE
    fill: Fill | None = None
    filled_before: Decimal = field(default=Decimal(0))

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.order.account_id, self.order.symbol, self.report.exchange_fill_id)


class _Batch:
    """The work of one `apply_fills` transaction, in steps of a few bulk statements."""

    def __init__(self, reports: Sequence[FillReport]) -> None:
        self.orders = lock_orders(r.order_id for r in reports)
        self.items = [_Item(report=r, order=self.orders[r.order_id]) for r in reports]

    def apply(self) -> None:
        candidates = self._first_deliveries()
        accepted = self._refuse_overfills(candidates)
        _insert_once([item.fill for item in accepted if item.fill is not None])
        events, outbox = self._update_orders()
        OrderEvent.objects.bulk_create(events)
        emit_events(events=outbox)

    def _first_deliveries(self) -> list[_Item]:
        """Items whose trade is not repeated earlier in the batch (later copies stay DUPLICATE)."""
        seen: set[tuple[int, str, int]] = set()
        first = []
        for item in self.items:
            if item.key not in seen:
                seen.add(item.key)
                first.append(item)
        return first

    def _refuse_overfills(self, candidates: list[_Item]) -> list[_Item]:
        """The candidates to insert, each with its unsaved Fill. A report that would take its
        order above its quantity is refused unless its trade is already stored (then it is a
        duplicate); stored trades are only looked up when some report would over-fill."""
        stored: set[tuple[int, str, int]] = set()
        if _would_overfill(candidates):
            stored = _stored_keys([item.key for item in candidates])
        running = {order_id: order.filled_quantity for order_id, order in self.orders.items()}
        accepted = []
        for item in candidates:
            if item.key in stored:
                continue
            filled = running[item.order.pk]
            if filled + item.report.quantity > item.order.quantity:
                item.outcome, item.filled_before = FillOutcome.OVERFILL_REJECTED, filled
                continue
            running[item.order.pk] = filled + item.report.quantity
            item.fill = _new_fill(item.order, item.report)
            accepted.append(item)
        return accepted

    def _update_orders(self) -> tuple[list[OrderEvent], list[OutboxEvent]]:
        """Totals, transitions and events, walking the reports in order (as one `apply_fill`
        after another would); then one UPDATE for the orders that changed."""
        events: list[OrderEvent] = []
        outbox: list[OutboxEvent] = []
        changed: dict[int, Order] = {}
        for item in self.items:
            if item.outcome is FillOutcome.OVERFILL_REJECTED:
                events.append(_overfill_event(item))
            elif item.fill is not None and item.fill.pk is not None:
                item.outcome = FillOutcome.APPLIED
                events += _add_fill(item.order, item.fill)
                outbox.append(_fill_event(item.order, item.fill))
                changed[item.order.pk] = item.order
            else:
                item.fill = None  # stored before (or concurrently): a duplicate
        _save_totals(list(changed.values()))
        return events, outbox

    def count(self) -> None:
        """Metrics and logs, after commit."""
        outcomes = [item.outcome for item in self.items]
        FILLS_APPLIED.inc(outcomes.count(FillOutcome.APPLIED))
        FILLS_DUPLICATE.inc(outcomes.count(FillOutcome.DUPLICATE))
        for item in self.items:
            if item.outcome is FillOutcome.OVERFILL_REJECTED:
                FILLS_OVERFILL.inc()
                logger.error(
                    "over-fill refused: order %s trade %s qty %s",
                    item.order.pk,
                    item.report.exchange_fill_id,
                    item.report.quantity,
                )

    def results(self) -> list[FillResult]:
        return [FillResult(item.outcome, item.order, item.fill) for item in self.items]


def _would_overfill(candidates: list[_Item]) -> bool:
    """Whether the candidates would over-fill some order if none of them were stored yet."""
    running: dict[int, Decimal] = {}
    for item in candidates:
        order = item.order
        running[order.pk] = running.get(order.pk, order.filled_quantity) + item.report.quantity
        if running[order.pk] > order.quantity:
            return True
    return False


def _stored_keys(keys: list[tuple[int, str, int]]) -> set[tuple[int, str, int]]:
    groups: dict[tuple[int, str], list[int]] = {}
    for account_id, symbol, trade_id in keys:
        groups.setdefault((account_id, symbol), []).append(trade_id)
    condition = Q()
    for (account_id, symbol), trade_ids in groups.items():
        condition |= Q(account_id=account_id, symbol=symbol, exchange_fill_id__in=trade_ids)
    return set(Fill.objects.filter(condition).values_list("account_id", "symbol", "exchange_fill_id"))


def _new_fill(order: Order, report: FillReport) -> Fill:
    return Fill(
        account_id=order.account_id,
        order=order,
        symbol=order.symbol,
        exchange_fill_id=report.exchange_fill_id,
        price=report.price,
        quantity=report.quantity,
        quote_quantity=report.quote_quantity,
        commission=report.commission,
        commission_asset=report.commission_asset,
        is_maker=report.is_maker,
        executed_at=report.executed_at,
    )


# The columns of the unique constraint execution_fill_exchange_id_uniq (PostgreSQL refuses an
# ON CONFLICT target that matches no unique index, so a change there fails loudly).
_DEDUP_COLUMNS = "account_id, symbol, exchange_fill_id"


@functools.cache
def _insert_once_statement() -> tuple[list[Field[Any, Any]], str]:
    """`_insert_once`'s columns and SQL, from model metadata: built once, not per batch."""
    meta = Fill._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "  # noqa: S608 - model metadata
        f"SELECT * FROM unnest({', '.join(f'%s::{f.db_type(connection)}[]' for f in columns)}) "
        f"ON CONFLICT ({_DEDUP_COLUMNS}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, account_id, symbol, exchange_fill_id"
    )
    return columns, sql


def _insert_once(fills: list[Fill]) -> None:
    """One `INSERT … SELECT FROM unnest(…) ON CONFLICT (account, symbol, trade id) DO NOTHING
    RETURNING`: the dedup check and the insert of the whole batch in one statement. Inserted
    fills get their id; a fill whose trade is already stored (for this order or another of the
    account) keeps pk None. Rows go in key order, so two transactions inserting overlapping
    trades wait on each other in the same order (no deadlock on the unique index). One array
    per column (as Django's bulk_create does) keeps the statement short whatever the batch
    size, so the driver does not re-parse thousands of placeholders each time."""
    if not fills:
        return
    fills = sorted(fills, key=lambda f: (f.account_id, f.symbol, f.exchange_fill_id))
    columns, sql = _insert_once_statement()
    arrays = [[f.get_db_prep_save(f.pre_save(fill, add=True), connection) for fill in fills] for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        inserted = {
            (account_id, symbol, trade_id): pk for pk, account_id, symbol, trade_id in cursor.fetchall()
        }
    for fill in fills:
        pk = inserted.get((fill.account_id, fill.symbol, fill.exchange_fill_id))
        if pk is not None:
            fill.pk = pk
            fill._state.adding = False
            fill._state.db = connection.alias


def _add_fill(order: Order, fill: Fill) -> list[OrderEvent]:
    """Add a new fill to its locked order in memory; returns the order's new events.

    The order row is locked and the fill is new, so adding it to the stored totals is exact
    (sums commute: any delivery order gives the same figures) and saves re-reading them."""
    with localcontext(STORABLE_ARITHMETIC):  # exact sums, whatever the digits (the default has 28)
        order.filled_quantity += fill.quantity
        order.cumulative_quote += fill.quote_quantity
        if fill.commission:
            fees = dict(order.fees)
            fees[fill.commission_asset] = str(Decimal(fees.get(fill.commission_asset, "0")) + fill.commission)
            order.fees = fees
    payload = {
        "exchange_fill_id": fill.exchange_fill_id,
        "quantity": str(fill.quantity),
        "price": str(fill.price),
    }
    events = []
    if order.status == OrderStatus.NEW:
        # The fill outran the venue's acknowledgement: the order evidently reached the venue.
        events.append(stage_transition(order, OrderStatus.SUBMITTED, payload={"source": "fill_before_ack"}))
    target = _status_from_quantity(order)
    if target is not None:
        events.append(stage_transition(order, target, kind=OrderEvent.Kind.FILL, payload=payload))
    else:
        order.version += 1
        events.append(stage_event(order, OrderEvent.Kind.FILL, payload))
    return events


_SAVED_COLUMNS = (
    ("id", "bigint"),
    ("filled_quantity", "numeric"),
    ("cumulative_quote", "numeric"),
    ("average_fill_price", "numeric"),
    ("fees", "jsonb"),
    ("status", "varchar"),
    ("version", "integer"),
    ("updated_at", "timestamptz"),
)


def _save_totals(orders: list[Order]) -> None:
    """One `UPDATE … FROM unnest(…)` for the orders a batch changed: totals, average price
    (from the totals, as `quote / qty` at 18 dp half-even), fees, status and version."""
    if not orders:
        return
    now = timezone.now()
    for order in orders:
        order.average_fill_price = ratio_to_places(order.cumulative_quote, order.filled_quantity)
        order.updated_at = now
    arrays = [
        [order.pk for order in orders],
        [order.filled_quantity for order in orders],
        [order.cumulative_quote for order in orders],
        [order.average_fill_price for order in orders],
        [json.dumps(order.fees) for order in orders],
        [str(order.status) for order in orders],
        [order.version for order in orders],
        [now] * len(orders),
    ]
    names = [name for name, _ in _SAVED_COLUMNS]
    table = connection.ops.quote_name(Order._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS o SET {', '.join(f'{n} = v.{n}' for n in names[1:])} "  # noqa: S608 - model metadata
            f"FROM unnest({', '.join(f'%s::{kind}[]' for _, kind in _SAVED_COLUMNS)}) "
            f"AS v({', '.join(names)}) WHERE o.id = v.id",
            arrays,
        )


def _status_from_quantity(order: Order) -> OrderStatus | None:
    """The status the cumulative quantity implies, or None to keep the current one.

    A canceled or expired order keeps its final status when a late fill arrives; a
    CANCEL_REQUESTED order only leaves that state when fully filled.
    """
    if order.filled_quantity == order.quantity and order.status != OrderStatus.FILLED:
        if order.status in (
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.CANCEL_REQUESTED,
        ):
            return OrderStatus.FILLED
        return None
    if order.status in _OPEN_FOR_PARTIAL:
        return OrderStatus.PARTIALLY_FILLED
    return None


def _fill_event(order: Order, fill: Fill) -> OutboxEvent:
    return OutboxEvent(
        aggregate_type="account",
        aggregate_id=str(order.account_id),
        event_type="fill.recorded",
        payload=_fill_payload(order, fill),
    )


def _fill_payload(order: Order, fill: Fill) -> dict[str, object]:
    return {
        "fill_id": fill.pk,
        "order_id": order.pk,
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "strategy_id": order.strategy_id,
        "symbol": fill.symbol,
        "side": order.side,
        "exchange_fill_id": fill.exchange_fill_id,
        "price": str(fill.price),
        "quantity": str(fill.quantity),
        "quote_quantity": str(fill.quote_quantity),
        "commission": str(fill.commission),
        "commission_asset": fill.commission_asset,
        "is_maker": fill.is_maker,
        "executed_at": fill.executed_at.isoformat(),
    }


def _overfill_event(item: _Item) -> OrderEvent:
    return stage_event(
        item.order,
        OrderEvent.Kind.OVERFILL_REJECTED,
        {
            "exchange_fill_id": item.report.exchange_fill_id,
            "quantity": str(item.report.quantity),
            "price": str(item.report.price),
            "filled_before": str(item.filled_before),
        },
    )
