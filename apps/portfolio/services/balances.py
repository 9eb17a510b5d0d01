"""Balances: what the venue reports, beside what our fills imply, and the drift between them.

Rows are locked in asset order (after the position, for fills), so a fill and a balance
report touching the same assets serialize and never deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from apps.exchange.domain import VenueBalance
from apps.portfolio.models import Balance, BalanceFlow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportedBalance:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class Flow:
    asset: str
    kind: BalanceFlow.Kind
    amount: Decimal


def record_balances(
    *,
    account_id: int,
    reported_at: datetime,
    balances: Iterable[ReportedBalance],
    source: str,
    complete: bool = False,
) -> list[Balance]:
    """Apply a venue balance report (stream account update or reconciliation).

    A report older than the one stored for an asset is ignored for that asset. Otherwise it
    becomes the new anchor: `derived_total` = reported total + flows of fills executed after
    it; `drift` = reported total - (previous report + flows of fills executed in between).
    A `complete` report lists every non-zero asset, so an asset it omits is reported as zero;
    otherwise (the stream's account updates list changed assets only) omitted assets keep
    their previous report.
    """
    reports = {b.asset: b for b in balances}
    if complete:
        for asset in Balance.objects.filter(account_id=account_id).values_list("asset", flat=True):
            reports.setdefault(asset, ReportedBalance(asset=asset, free=Decimal(0), locked=Decimal(0)))
    updated: list[Balance] = []
    with transaction.atomic():
        for reported in sorted(reports.values(), key=lambda b: b.asset):
            balance = _lock_balance(account_id, reported.asset)
            if balance.reported_at is not None and reported_at < balance.reported_at:
                logger.info(
                    "ignoring a %s balance report of %s older than the stored one",
                    reported.asset,
                    reported_at,
                )
                continue
            total = reported.free + reported.locked
            if balance.reported_at is not None:
                expected = _total(balance) + _flows(
                    account_id, reported.asset, after=balance.reported_at, until=reported_at
                )
                balance.drift = total - expected
                balance.drift_since = balance.reported_at
            balance.free = reported.free
            balance.locked = reported.locked
            balance.reported_at = reported_at
            balance.report_source = source
            balance.derived_total = total + _flows(account_id, reported.asset, after=reported_at)
            balance.version += 1
            balance.save()
            updated.append(balance)
    return updated


def compare_with_venue(account_id: int, venue_balances: list[VenueBalance]) -> dict[str, Any]:
    """Reconciliation's comparator: per asset where they differ, the venue's total beside our
    derived total (last report + fills since). An asset we hold that the venue omits counts
    as zero there. Fills whose outbox events are still in flight show up here as drift until
    portfolio has consumed them; the run records it as information, it repairs nothing.
    """
    try:
        venue = {b.asset: b.free + b.locked for b in venue_balances}
        ours = dict(Balance.objects.filter(account_id=account_id).values_list("asset", "derived_total"))
        drift: dict[str, Any] = {}
        for asset in sorted(set(venue) | set(ours)):
            venue_total = venue.get(asset, Decimal(0))
            our_total = ours.get(asset, Decimal(0))
            if venue_total != our_total:
                drift[asset] = {
                    "venue": str(venue_total),
                    "portfolio": str(our_total),
                    "drift": str(venue_total - our_total),
                }
    except Exception as exc:  # a comparison must never fail the reconciliation run
        logger.exception("portfolio balance comparison failed for account %s", account_id)
        return {"portfolio_error": f"{type(exc).__name__}: {exc}"}
    return drift


def apply_fill_flows(*, account_id: int, fill_id: int, executed_at: datetime, flows: list[Flow]) -> None:
    """Book one fill's asset movements; call inside the fill's transaction.

    A flow executed after the asset's last report moves `derived_total`. One executed before
    it is already inside that report; if it falls after the drift baseline, the drift the
    report showed was partly this fill we had not seen yet, so it is taken out of the drift.

    A fill executed at exactly the report's time counts as inside it: report times are the
    venue's (reconciliation: the account's `updateTime`, its last balance change), so a fill
    at that instant is the change the report is stamped with. (Binance times are in ms: a
    second trade in that same millisecond but after the snapshot would be taken as inside;
    the next report shows it as drift.)
    """
    per_asset: dict[str, Decimal] = {}
    for flow in flows:
        if flow.amount:
            per_asset[flow.asset] = per_asset.get(flow.asset, Decimal(0)) + flow.amount
    for asset in sorted(per_asset):
        balance = _lock_balance(account_id, asset)
        amount = per_asset[asset]
        if balance.reported_at is None or executed_at > balance.reported_at:
            balance.derived_total += amount
        elif (
            balance.drift is not None
            and balance.drift_since is not None
            and executed_at > balance.drift_since
        ):
            balance.drift -= amount
        balance.version += 1
        balance.save()
    BalanceFlow.objects.bulk_create(
        [
            BalanceFlow(
                account_id=account_id,
                asset=flow.asset,
                kind=flow.kind,
                amount=flow.amount,
                fill_id=fill_id,
                executed_at=executed_at,
            )
            for flow in flows
            if flow.amount
        ]
    )


def _total(balance: Balance) -> Decimal:
    return (balance.free or Decimal(0)) + (balance.locked or Decimal(0))


def _flows(account_id: int, asset: str, *, after: datetime, until: datetime | None = None) -> Decimal:
    rows = BalanceFlow.objects.filter(account_id=account_id, asset=asset, executed_at__gt=after)
    if until is not None:
        rows = rows.filter(executed_at__lte=until)
    return rows.aggregate(s=Sum("amount"))["s"] or Decimal(0)


def _lock_balance(account_id: int, asset: str) -> Balance:
    balance = Balance.objects.select_for_update().filter(account_id=account_id, asset=asset).first()
    if balance is not None:
        return balance
    try:
        with transaction.atomic():
            Balance.objects.create(account_id=account_id, asset=asset)
    except IntegrityError:
        pass  # created concurrently; lock theirs
    return Balance.objects.select_for_update().get(account_id=account_id, asset=asset)
