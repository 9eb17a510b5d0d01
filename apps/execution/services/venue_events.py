"""What the venue tells us about our orders, applied to the books.

Execution reports (stream) and trades (REST, after a gap) take the same path: fills go
through `apply_fill` (dedup on symbol + trade id), status changes through the transition
table. The cumulative quantity is the truth: a report claiming FILLED does not fill an order,
only its trades do; a cumulative quantity above ours means trades are missing, and the caller
is told to recover them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from apps.core.domain import FINAL_ORDER_STATUSES, OrderStatus
from apps.exchange.adapter import ExchangeAdapter
from apps.exchange.binance.events import AccountPosition, ExecutionReport
from apps.exchange.domain import VenueBalance, VenueTrade
from apps.execution.models import Fill, Order

from .fills import FillReport, apply_fill
from .outbox import emit_event
from .transitions import lock_order, record_transition

logger = logging.getLogger(__name__)

_CLOSING = {OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}


@dataclass(frozen=True)
class ReportOutcome:
    applied_fill: bool
    gap_detected: bool
    unknown_order: bool = False


def apply_execution_report(*, account_id: int, report: ExecutionReport) -> ReportOutcome:
    order = Order.objects.filter(account_id=account_id, client_order_id=report.our_client_order_id).first()
    if order is None:
        logger.warning("execution report for an order we do not know: %s", report.our_client_order_id)
        return ReportOutcome(applied_fill=False, gap_detected=False, unknown_order=True)
    applied = False
    if report.is_trade:
        result = apply_fill(
            report=FillReport(
                order_id=order.pk,
                exchange_fill_id=report.trade_id,
                price=report.last_price,
                quantity=report.last_quantity,
                quote_quantity=report.last_quote,
                executed_at=report.transaction_time,
                commission=report.commission,
                commission_asset=report.commission_asset,
                is_maker=report.is_maker,
            )
        )
        applied = result.fill is not None
    gap = _apply_status(order.pk, report)
    return ReportOutcome(applied_fill=applied, gap_detected=gap)


def _apply_status(order_id: int, report: ExecutionReport) -> bool:
    with transaction.atomic():
        order = lock_order(order_id)
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
            for trade in trades:
                recovered += apply_trade(account_id, trade)
            if len(trades) < 1000:
                break
            from_id = trades[-1].trade_id + 1
    return recovered


def _symbols_to_check(account_id: int) -> list[str]:
    return sorted(
        set(Order.objects.filter(account_id=account_id).values_list("symbol", flat=True).distinct())
    )


def apply_trade(account_id: int, trade: VenueTrade) -> int:
    order = Order.objects.filter(account_id=account_id, exchange_order_id=trade.exchange_order_id).first()
    if order is None and trade.client_order_id:
        order = Order.objects.filter(account_id=account_id, client_order_id=trade.client_order_id).first()
    if order is None:
        logger.warning("trade %s of an order we do not know (%s)", trade.trade_id, trade.exchange_order_id)
        return 0
    result = apply_fill(
        report=FillReport(
            order_id=order.pk,
            exchange_fill_id=trade.trade_id,
            price=trade.price,
            quantity=trade.quantity,
            quote_quantity=trade.quote_quantity,
            executed_at=trade.executed_at,
            commission=trade.commission,
            commission_asset=trade.commission_asset,
            is_maker=trade.is_maker,
        )
    )
    return 1 if result.fill is not None else 0
