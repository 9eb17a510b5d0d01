"""Daily PnL snapshots: one row per account and UTC day, daily change, beat wiring."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.portfolio import services, tasks
from apps.portfolio.models import PnlSnapshot
from tradingbot.celery import BEAT_SCHEDULE, TASK_ROUTES

from .factories import fill, order_for, reconciled, relay

DAY1 = datetime(2026, 3, 2, 23, 55, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 23, 55, tzinfo=UTC)


@pytest.mark.django_db
def test_snapshot_per_day_with_the_change_since_the_day_before(account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="30", asset="USDT", executed_at=DAY1)
    relay()
    reconciled(account, DAY1)
    services.record_mark(symbol="BTCUSDT", price=Decimal("31000"), as_of=DAY1, source="t")
    assert services.take_daily_snapshots(now=DAY1) == 1

    services.record_mark(symbol="BTCUSDT", price=Decimal("30500"), as_of=DAY2, source="t")
    services.take_daily_snapshots(now=DAY2.replace(hour=12))
    services.record_mark(symbol="BTCUSDT", price=Decimal("30200"), as_of=DAY2, source="t")
    services.take_daily_snapshots(now=DAY2)  # the later run of the day rewrites its row

    first, second = PnlSnapshot.objects.filter(account=account).order_by("date")
    assert (first.date, first.net_pnl, first.daily_net_pnl) == (DAY1.date(), Decimal("970"), None)
    assert (first.is_stale, first.data_as_of) == (False, DAY1)
    assert (second.date, second.net_pnl, second.daily_net_pnl) == (
        DAY2.date(),
        Decimal("170"),
        Decimal("-800"),
    )
    assert second.taken_at == DAY2
    assert second.is_stale is True  # reconciled a day ago
    assert second.symbols[0]["symbol"] == "BTCUSDT"
    assert second.gross_exposure == Decimal("30200")


@pytest.mark.django_db
def test_the_task_snapshots_every_account_with_positions(account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000")
    relay()
    assert tasks.take_daily_snapshots.apply().get() == 1
    assert PnlSnapshot.objects.filter(account=account).count() == 1


def test_beat_runs_the_portfolio_tasks_on_the_outbox_queue() -> None:
    assert BEAT_SCHEDULE["portfolio-daily-pnl-snapshots"]["task"] == tasks.take_daily_snapshots.name
    assert BEAT_SCHEDULE["portfolio-prune-processed-events"]["task"] == tasks.prune_processed_events.name
    assert TASK_ROUTES["apps.portfolio.tasks.*"] == {"queue": "outbox"}
