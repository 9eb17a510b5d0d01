"""What the venue tells us about our orders, applied to the books.

Execution reports (stream) and trades (REST, after a gap) take the same path: fills go
through `apply_fills` (dedup on symbol + trade id), status changes through the transition
table. The cumulative quantity is the truth: a report claiming FILLED does not fill an order,
only its trades do; a cumulative quantity above ours means trades are missing, and the caller
is told to recover them.

Bursts: reports already waiting on the stream and pages of trades are applied in batches (one
transaction for the fills of a batch, one for the statuses of a burst of reports) instead of
one or two commits per report; the result is the one of applying them one at a time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models import Max

from apps.core.domain import FINAL_ORDER_STATUSES, OrderStatus
from apps.exchange.adapter import ExchangeAdapter
from apps.exchange.binance.events import AccountPosition, ExecutionReport
from apps.exchange.domain import VenueBalance, VenueTrade
from apps.execution.models import Fill, Order

from .fills import FillReport, apply_fills
from .outbox import emit_event
from .transitions import lock_orders, record_transition

logger = logging.getLogger(__name__)

_CLOSING = {OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
# Trades per apply_fills transaction when a page of myTrades (up to 1,000) is applied.
TRADE_CHUNK = 200
# PostgreSQL's SQLSTATE for "deadlock detected": the victim's transaction was rolled back.
DEADLOCK_DETECTED = "40P01"

_T = TypeVar("_T")


@dataclass(frozen=True)
class ReportOutcome:
    applied_fill: bool
    gap_detected: bool
    unknown_order: bool = False


def apply_execution_report(*, account_id: int, report: ExecutionReport) -> ReportOutcome:
    (outcome,) = apply_execution_reports(account_id=account_id, reports=[report])
    return outcome


def apply_execution_reports(*, account_id: int, reports: Sequence[ExecutionReport]) -> list[ReportOutcome]:
    """Reports in stream order, as a burst: the trades of a segment in one `apply_fills`, then
    each report's status, in order, in one transaction. One outcome per report."""
    outcomes: list[ReportOutcome] = []
    for segment in _segments(reports):
        outcomes += _apply_segment(account_id, segment)
    return outcomes


def _acts_on_status(report: ExecutionReport) -> bool:
    """Whether `_apply_status` may change the order for this report beyond what its own fill
    did: an acknowledgement, a cancel, an expiry, a rejection (a trade report's
    PARTIALLY_FILLED/FILLED claim is ignored: fills decide)."""
    return not report.is_trade or report.order_status in _CLOSING


def _segments(reports: Sequence[ExecutionReport]) -> list[list[ExecutionReport]]:
    """Cut the burst so that no report of an order follows, in its segment, a report of the
    same order that acts on its status. Within a segment all fills go before all statuses;
    with this cut that gives the books of one report at a time (e.g. a late trade after a
    CANCELED report is still booked on the canceled order, not turned into FILLED)."""
    segments: list[list[ExecutionReport]] = []
    current: list[ExecutionReport] = []
    acted: set[str] = set()
    for report in reports:
        if report.our_client_order_id in acted:
            segments.append(current)
            current, acted = [], set()
        current.append(report)
        if _acts_on_status(report):
            acted.add(report.our_client_order_id)
    if current:
        segments.append(current)
    return segments


def _apply_segment(account_id: int, reports: list[ExecutionReport]) -> list[ReportOutcome]:
    client_ids = {r.our_client_order_id for r in reports}
    order_ids = dict(
        Order.objects.filter(account_id=account_id, client_order_id__in=client_ids).values_list(
            "client_order_id", "pk"
        )
    )
    for missing in sorted(client_ids - order_ids.keys()):
        logger.warning("execution report for an order we do not know: %s", missing)
    trades = [r for r in reports if r.is_trade and r.our_client_order_id in order_ids]
    fills = [_report_fill(order_ids[r.our_client_order_id], r) for r in trades]
    results = retry_once_on_deadlock(functools.partial(apply_fills, reports=fills))
    applied = {id(r) for r, result in zip(trades, results, strict=True) if result.fill is not None}
    known = [r for r in reports if r.our_client_order_id in order_ids]
    gaps: dict[int, bool] = {}
    if known:
        gaps = retry_once_on_deadlock(functools.partial(_apply_statuses, order_ids, known))
    return [
        ReportOutcome(applied_fill=id(r) in applied, gap_detected=gaps[id(r)])
        if id(r) in gaps
        else ReportOutcome(applied_fill=False, gap_detected=False, unknown_order=True)
        for r in reports
    ]


def _apply_statuses(order_ids: dict[str, int], known: list[ExecutionReport]) -> dict[int, bool]:
    """Each report's status, in order, in one transaction; by report identity: gap detected."""
    gaps: dict[int, bool] = {}
    with transaction.atomic():
        orders = lock_orders(order_ids[r.our_client_order_id] for r in known)
        for r in known:
            gaps[id(r)] = _apply_status(orders[order_ids[r.our_client_order_id]], r)
    return gaps


def retry_once_on_deadlock(apply: Callable[[], _T]) -> _T:
    """Run `apply` (one transaction of fills or of statuses) again if PostgreSQL chose it as a
    deadlock victim. Safe because replaying is a no-op for what committed before (fills are
    deduplicated on the trade id, a status is only taken when the order has not got it) and
    the victim's own transaction was rolled back whole. Order locks are taken in id order
    everywhere (docs/EXECUTION.md), so this is defense in depth, not the fix. Inside a
    caller's transaction nothing can be retried (it is aborted): the error is raised."""
    if connection.in_atomic_block:
        return apply()
    try:
        return apply()
    except OperationalError as exc:
        if not is_deadlock(exc):
            raise
        logger.warning("deadlock on a batch of venue events; applying it once more: %s", exc)
        return apply()


def is_deadlock(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL's deadlock_detected (SQLSTATE 40P01)."""
    return getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED


def _report_fill(order_id: int, report: ExecutionReport) -> FillReport:
    return FillReport(
        order_id=order_id,
        exchange_fill_id=report.trade_id,
        price=report.last_price,
        quantity=report.last_quantity,
        quote_quantity=report.last_quote,
        executed_at=report.transaction_time,
        commission=report.commission,
        commission_asset=report.commission_asset,
        is_maker=report.is_maker,
    )


def _apply_status(order: Order, report: ExecutionReport) -> bool:
    """One report's status on its locked order; True when the venue's cumulative quantity is
    above ours (trades are missing)."""
    if not order.exchange_order_id:
        order.exchange_order_id = report.exchange_order_id
        order.save(update_fields=["exchange_order_id", "updated_at"])
    if order.status == OrderStatus.NEW:
        record_transition(order, OrderStatus.SUBMITTED, payload={"source": "execution_report"})
        order.submit_lease_until = None
        order.save(update_fields=["submit_lease_until", "updated_at"])
    target = report.order_status
    if target in _CLOSING and order.status not in FINAL_ORDER_STATUSES:
        payload = {"source": "execution_report", "venue_cumulative": str(report.cumulative_quantity)}
        if target == OrderStatus.REJECTED:
            order.reject_reason = report.reject_reason
        record_transition(order, target, payload=payload)
    return report.cumulative_quantity > order.filled_quantity


def record_account_position(*, account_id: int, position: AccountPosition) -> None:
    """Balances from the stream (changed assets only), for portfolio via the outbox."""
    balances = [VenueBalance(asset=b.asset, free=b.free, locked=b.locked) for b in position.balances]
    record_account_position_balances(account_id=account_id, balances=balances, event_time=position.event_time)


def record_account_position_balances(
    *, account_id: int, balances: list[VenueBalance], event_time: datetime, complete: bool = False
) -> None:
    """Balances as the venue reports them, published as `balance.reported`.

    `complete`: the list is every non-zero balance (reconciliation's account snapshot), so
    an asset missing from it is zero; stream updates list only the assets that changed.
    """
    with transaction.atomic():
        emit_event(
            aggregate_type="account",
            aggregate_id=str(account_id),
            event_type="balance.reported",
            payload={
                "account_id": account_id,
                "event_time": event_time.isoformat(),
                "complete": complete,
                "source": "reconciliation" if complete else "stream",
                "balances": [
                    {"asset": b.asset, "free": str(b.free), "locked": str(b.locked)} for b in balances
                ],
            },
        )


def recover_missed_fills(
    *, account_id: int, adapter: ExchangeAdapter, symbols: list[str] | None = None
) -> int:
    """Fetch the account's trades since the last one we hold, per symbol, and apply them.

    Used after a stream gap. Symbols default to those of orders that are open, or closed
    with fewer fills than the venue reported. Returns how many fills were new.
    """
    symbols = symbols or _symbols_to_check(account_id)
    recovered = 0
    for symbol in symbols:
        last = Fill.objects.filter(account_id=account_id, symbol=symbol).aggregate(m=Max("exchange_fill_id"))[
            "m"
        ]
        from_id = (last or -1) + 1
        while True:
            trades = adapter.trades_since(symbol=symbol, from_trade_id=from_id)
            recovered += apply_trades(account_id=account_id, trades=trades).applied
            if len(trades) < 1000:
                break
            from_id = trades[-1].trade_id + 1
    return recovered


def _symbols_to_check(account_id: int) -> list[str]:
    return sorted(
        set(Order.objects.filter(account_id=account_id).values_list("symbol", flat=True).distinct())
    )


@dataclass(frozen=True)
class TradesOutcome:
    applied: int  # new fills
    first_unknown_trade_id: int | None  # the first trade (in the given order) of an order we do not know


def apply_trades(*, account_id: int, trades: Sequence[VenueTrade]) -> TradesOutcome:
    """Venue trades (a myTrades page) booked to our orders in chunks of TRADE_CHUNK, one
    `apply_fills` transaction each. A trade is tied to its order by the venue's order id,
    else by client order id; trades of orders we do not know are skipped (and logged)."""
    order_of = _orders_of_trades(account_id, trades)
    reports, first_unknown = [], None
    for trade in trades:
        order_id = order_of.get((trade.symbol, trade.trade_id))
        if order_id is None:
            logger.warning(
                "trade %s of an order we do not know (%s)", trade.trade_id, trade.exchange_order_id
            )
            first_unknown = trade.trade_id if first_unknown is None else first_unknown
            continue
        reports.append(_trade_fill(order_id, trade))
    applied = 0
    for start in range(0, len(reports), TRADE_CHUNK):
        chunk = reports[start : start + TRADE_CHUNK]
        results = retry_once_on_deadlock(functools.partial(apply_fills, reports=chunk))
        applied += sum(1 for result in results if result.fill is not None)
    return TradesOutcome(applied=applied, first_unknown_trade_id=first_unknown)


def _orders_of_trades(account_id: int, trades: Sequence[VenueTrade]) -> dict[tuple[str, int], int]:
    """(symbol, trade id) -> order id: by the venue's order id within the trade's symbol
    (Binance numbers orders per symbol: two symbols can share one; the lowest order id when
    several share it, as `.first()` did), else by client order id (unique per account). Two
    queries for any number of trades."""
    orders = Order.objects.filter(account_id=account_id).order_by("-pk")
    by_venue_id = {
        (symbol, venue_id): pk
        for symbol, venue_id, pk in orders.filter(
            symbol__in={t.symbol for t in trades}, exchange_order_id__in={t.exchange_order_id for t in trades}
        ).values_list("symbol", "exchange_order_id", "pk")
    }
    wanted = {
        t.client_order_id
        for t in trades
        if t.client_order_id and (t.symbol, t.exchange_order_id) not in by_venue_id
    }
    by_client_id: dict[str, int] = {}
    if wanted:
        by_client_id = dict(orders.filter(client_order_id__in=wanted).values_list("client_order_id", "pk"))
    order_of = {}
    for trade in trades:
        order_id = by_venue_id.get((trade.symbol, trade.exchange_order_id)) or by_client_id.get(
            trade.client_order_id
        )
        if order_id is not None:
            order_of[(trade.symbol, trade.trade_id)] = order_id
    return order_of


def _trade_fill(order_id: int, trade: VenueTrade) -> FillReport:
    return FillReport(
        order_id=order_id,
        exchange_fill_id=trade.trade_id,
        price=trade.price,
        quantity=trade.quantity,
        quote_quantity=trade.quote_quantity,
        executed_at=trade.executed_at,
        commission=trade.commission,
        commission_asset=trade.commission_asset,
        is_maker=trade.is_maker,
    )
