"""Daily PnL snapshots: one row per account and UTC day, rewritten by each run that day.

Beat runs this hourly (`tradingbot/celery.py`); the last run of a day (23:55 UTC) leaves its
end-of-day figure, and a missed run still leaves the day's latest one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from apps.portfolio import selectors
from apps.portfolio.models import PnlSnapshot, Position

logger = logging.getLogger(__name__)


def take_daily_snapshots(*, now: datetime | None = None, account_ids: list[int] | None = None) -> int:
    """Write (or rewrite) today's snapshot of every account that has positions; returns how many."""
    now = now or timezone.now()
    day = now.astimezone(UTC).date()
    if account_ids is None:
        account_ids = sorted(set(Position.objects.values_list("account_id", flat=True)))
    for account_id in account_ids:
        report = selectors.pnl(account_ids=[account_id], now=now)
        totals = report.totals
        with transaction.atomic():
            previous = (
                PnlSnapshot.objects.filter(account_id=account_id, date__lt=day).order_by("-date").first()
            )
            PnlSnapshot.objects.update_or_create(
                account_id=account_id,
                date=day,
                defaults={
                    "valuation_asset": totals.valuation_asset,
                    "realized_pnl": totals.realized_pnl,
                    "unrealized_pnl": totals.unrealized_pnl,
                    "fees": totals.fees,
                    "net_pnl": totals.net_pnl,
                    "daily_net_pnl": totals.net_pnl - previous.net_pnl if previous else None,
                    "equity": totals.equity,
                    "gross_exposure": totals.gross_exposure,
                    "net_exposure": totals.net_exposure,
                    "is_stale": report.freshness.is_stale,
                    "data_as_of": report.freshness.data_as_of,
                    "stale_reasons": list(report.freshness.stale_reasons),
                    "symbols": [
                        {
                            "symbol": s.symbol,
                            "quote_asset": s.quote_asset,
                            "quantity": str(s.quantity),
                            "realized_pnl": str(s.realized_pnl),
                            "unrealized_pnl": None if s.unrealized_pnl is None else str(s.unrealized_pnl),
                            "fees": str(s.fees_paid),
                        }
                        for s in report.symbols
                    ],
                    "taken_at": now,
                },
            )
    logger.info("PnL snapshots for %s written for %d account(s)", day, len(account_ids))
    return len(account_ids)
