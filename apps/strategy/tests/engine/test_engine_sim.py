"""The live engine against the project's Binance-compatible simulator (in-process steps,
Celery eager): ladders, counter-orders, books, refusals, the kill switch, crashes, locks."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.candles.selectors import candles_between
from apps.candles.services import upsert_candles
from apps.core.domain import OrderStatus
from apps.execution.models import Fill, Order
from apps.execution.services import relay_outbox
from apps.portfolio.models import Mark, Position
from apps.risk.models import RiskLimits
from apps.risk.services import activate_kill_switch, deactivate_kill_switch
from apps.strategy.engine import step as engine_step
from apps.strategy.engine.dispatch import is_due, poll_series, supervise_running_strategies
from apps.strategy.engine.step import run_strategy_step
from apps.strategy.models import Strategy, StrategyStatus
from apps.strategy.services.lifecycle import StartRefused, pause_strategy, start_strategy, stop_strategy
from apps.strategy.tests.factories import grid_config

from .support import GRID_REALIZED, D, bar, close_candle, running_strategy, trade_candle

GRID = grid_config(lower_price="29000", upper_price="31000", levels=5, quantity_per_level="0.001")
C0_CLOSED = bar(0, "1", "1", "1", "1").close_time

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager", "trading_on")]


def orders_of(strategy: Strategy) -> list[tuple[str, str, Decimal | None, Decimal, str]]:
    rows = Order.objects.filter(strategy_id=strategy.pk).order_by("pk")
    return [(o.side, o.order_type, o.price, o.quantity, o.status) for o in rows]


def test_grid_places_its_ladder_answers_fills_and_the_books_match_a_hand_computation(sim, account) -> None:
    strategy = running_strategy(account, "GRID", GRID)

    # c0 closes at 30,000: the level nearest the price (30,000) stays empty; the base for the
    # two sells above is bought at market; buys rest at 29,000 and 29,500.
    first = close_candle(strategy, bar(0, "30000", "30000", "30000", "30000"))
    assert first.ran
    assert orders_of(strategy) == [
        ("BUY", "MARKET", None, D("0.002"), "SUBMITTED"),  # its fill comes back through the books
        ("BUY", "LIMIT", D("29000.00"), D("0.001"), "SUBMITTED"),
        ("BUY", "LIMIT", D("29500.00"), D("0.001"), "SUBMITTED"),
    ]
    trade_candle(sim, account, bar(1, "30000", "30000", "29400", "29600"))
    # The market buy's fill (0.002, fee 0.000002 BTC) → sells of 0.000999 at 30,500 and 31,000;
    # the 29,500 buy filled on the way down (fee 0.000001 BTC) → a sell one level up (30,000).
    close_candle(strategy, bar(1, "30000", "30000", "29400", "29600"))
    placed = orders_of(strategy)[3:]
    assert sorted(placed, key=lambda o: o[2] or 0) == [
        ("SELL", "LIMIT", D("30000.00"), D("0.00099"), "SUBMITTED"),
        ("SELL", "LIMIT", D("30500.00"), D("0.00099"), "SUBMITTED"),
        ("SELL", "LIMIT", D("31000.00"), D("0.00099"), "SUBMITTED"),
    ]

    # c2 rises through 30,000 and 30,500: both sells fill → buys one level down each.
    trade_candle(sim, account, bar(2, "29600", "30600", "29600", "30550"))
    close_candle(strategy, bar(2, "29600", "30600", "29600", "30550"))
    counter = orders_of(strategy)[6:]
    assert sorted((o[0], o[2], o[3]) for o in counter) == [
        ("BUY", D("29500.00"), D("0.001")),
        ("BUY", D("30000.00"), D("0.001")),
    ]

    # Books: every simulator trade is exactly one fill, and the position is the hand-computed one.
    ledger = sorted(int(t["id"]) for t in sim.trades("sim-key-0123456789"))
    assert sorted(Fill.objects.filter(account=account).values_list("exchange_fill_id", flat=True)) == ledger
    while relay_outbox():  # deliver every fill.recorded to portfolio now (the relay's nudge is debounced)
        pass
    position = Position.objects.get(account=account, symbol="BTCUSDT")
    # Quantity is what the wallet holds: the signed sum of fills, 0.002 + 0.001 - 2 x 0.00099,
    # less the buys' 0.1 % commissions, which the simulator charges in BTC (docs/PORTFOLIO.md).
    assert position.quantity == D("0.00102") - D("0.003") * D("0.001")
    assert abs(position.realized_pnl - GRID_REALIZED) < D("1e-12")
    # Fees in quote: 0.000002 BTC x 30,000 + 0.000001 BTC x 29,500 + 0.1 % of 29.70 and of 30.195.
    assert position.fees_paid == D("0.06") + D("0.0295") + D("0.0297") + D("0.030195")


def test_a_risk_refusal_writes_no_order_and_is_told_to_the_strategy(sim, account) -> None:
    RiskLimits.objects.create(
        account=account, max_order_notional=D("40")
    )  # the 60 USDT market buy is too big
    strategy = running_strategy(account, "GRID", GRID)
    result = close_candle(strategy, bar(0, "30000", "30000", "30000", "30000"))
    assert result.ran
    assert [r["code"] for r in result.refused] == ["risk_limit_exceeded"]
    assert [o[1] for o in orders_of(strategy)] == ["LIMIT", "LIMIT"]  # the buys below still rest
    strategy.refresh_from_db()
    assert "risk_limit_exceeded" in strategy.last_error


def test_kill_switch_pauses_running_strategies_no_order_leaves_and_they_resume_after_release(
    sim, account, stream_connected
) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    activate_kill_switch(reason="drill", actor="test")
    result = close_candle(strategy, bar(0, "30000", "30000", "30000", "30000"))
    strategy.refresh_from_db()
    assert result.paused.startswith("kill switch active")
    assert strategy.status == StrategyStatus.PAUSED
    assert not Order.objects.exists()
    assert sim.trades("sim-key-0123456789") == []

    with pytest.raises(StartRefused) as refused:
        start_strategy(strategy_id=strategy.pk, actor="test", now=C0_CLOSED + timedelta(seconds=1))
    assert refused.value.code == "strategy_not_startable"
    assert "kill_switch_active" in [r.code for r in refused.value.reasons]

    deactivate_kill_switch(reason="over", actor="test")
    start_strategy(strategy_id=strategy.pk, actor="test", now=C0_CLOSED + timedelta(seconds=1))
    resumed = run_strategy_step(strategy_id=strategy.pk, now=C0_CLOSED + timedelta(seconds=1))
    assert resumed.ran
    assert len(orders_of(strategy)) == 3


def test_a_crash_mid_step_leaves_nothing_and_the_retry_places_each_order_once(
    sim, account, monkeypatch
) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    real_submit = engine_step.execution_services.submit_order
    calls = {"n": 0}

    def crash_on_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker died")
        return real_submit(**kwargs)

    monkeypatch.setattr(engine_step.execution_services, "submit_order", crash_on_third)
    failed = close_candle(strategy, bar(0, "30000", "30000", "30000", "30000"))
    assert "worker died" in failed.error
    assert not Order.objects.exists()  # the two orders of the failed step rolled back with it
    assert sim.trades("sim-key-0123456789") == []
    strategy.refresh_from_db()
    assert (strategy.state, strategy.consecutive_failures) == ({}, 1)

    monkeypatch.setattr(engine_step.execution_services, "submit_order", real_submit)
    again = run_strategy_step(strategy_id=strategy.pk, now=C0_CLOSED + timedelta(seconds=1))
    assert again.ran
    assert len(set(again.placed)) == 3
    assert Order.objects.count() == 3
    assert run_strategy_step(strategy_id=strategy.pk, now=C0_CLOSED + timedelta(seconds=2)).placed == []


def test_repeated_failures_put_the_strategy_in_error_with_the_reason(
    sim, account, monkeypatch, settings
) -> None:
    settings.STRATEGY_MAX_CONSECUTIVE_FAILURES = 3
    strategy = running_strategy(account, "GRID", GRID)

    def broken(**kwargs):
        raise RuntimeError("adapter exploded")

    monkeypatch.setattr(engine_step.execution_services, "submit_order", broken)
    for i in range(3):
        close_candle(strategy, bar(i, "30000", "30000", "30000", "30000"))
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.ERROR
    assert "adapter exploded" in strategy.last_error
    assert list(strategy.events.values_list("to_status", flat=True))[-1] == StrategyStatus.ERROR


def test_one_strategy_is_stepped_by_one_worker_at_a_time(sim, account) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    c0 = bar(0, "30000", "30000", "30000", "30000")
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[c0])
    barrier = threading.Barrier(4)
    results = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(
                run_strategy_step(strategy_id=strategy.pk, now=c0.close_time + timedelta(seconds=1))
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.placed) for r in results) == 3
    assert Order.objects.filter(strategy_id=strategy.pk).count() == 3
    assert all(r.ran or r.skipped for r in results)
    assert all(o.status != OrderStatus.REJECTED for o in Order.objects.all())


def test_start_is_refused_while_the_accounts_stream_is_not_connected(sim, account) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    pause_strategy(strategy_id=strategy.pk, actor="test")
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[bar(0, "30000", "30000", "30000", "30000")])
    with pytest.raises(StartRefused) as refused:
        start_strategy(strategy_id=strategy.pk, actor="test", now=C0_CLOSED + timedelta(seconds=1))
    assert [r.code for r in refused.value.reasons] == ["stream_unhealthy"]
    assert "never_connected" in refused.value.reasons[0].message


def test_strategy_orders_and_fills_endpoints_are_the_owners_only(
    sim, account, api_client, other_api_client
) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    close_candle(strategy, bar(0, "30000", "30000", "30000", "30000"))
    trade_candle(sim, account, bar(1, "30000", "30000", "29400", "29600"))
    orders = api_client.get(f"/api/v1/strategies/{strategy.pk}/orders/").json()["results"]
    assert sorted(o["client_order_id"] for o in orders) == sorted(
        Order.objects.filter(strategy_id=strategy.pk).values_list("client_order_id", flat=True)
    )
    fills = api_client.get(f"/api/v1/strategies/{strategy.pk}/fills/").json()["results"]
    assert len(fills) == Fill.objects.filter(order__strategy_id=strategy.pk).count() == 2
    assert other_api_client.get(f"/api/v1/strategies/{strategy.pk}/orders/").status_code == 404
    detail = api_client.get(f"/api/v1/strategies/{strategy.pk}/").json()
    assert detail["last_step_at"] is not None
    assert detail["consecutive_failures"] == 0


def test_a_fresh_start_after_stop_never_reuses_client_order_ids(sim, account, stream_connected) -> None:
    c0 = bar(0, "30000", "30000", "30000", "30000")
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[c0])
    strategy = running_strategy(account, "GRID", GRID)
    Strategy.objects.filter(pk=strategy.pk).update(status=StrategyStatus.DRAFT)
    start_strategy(strategy_id=strategy.pk, actor="test", now=C0_CLOSED + timedelta(seconds=1))
    first = run_strategy_step(strategy_id=strategy.pk, now=C0_CLOSED + timedelta(seconds=1))
    stop_strategy(strategy_id=strategy.pk, actor="test", cancel_open_orders=True)
    start_strategy(strategy_id=strategy.pk, actor="test", now=C0_CLOSED + timedelta(seconds=2))
    second = run_strategy_step(strategy_id=strategy.pk, now=C0_CLOSED + timedelta(seconds=2))
    assert len(first.placed) == len(second.placed) == 3
    assert not set(first.placed) & set(second.placed)
    assert all(cid.startswith(f"s{strategy.pk}_2-") for cid in second.placed)
    assert Order.objects.filter(strategy_id=strategy.pk).count() == 6


def test_supervisor_pauses_every_running_strategy_while_the_kill_switch_is_on(sim, account) -> None:
    strategies = [running_strategy(account, "GRID", GRID, name=f"g{i}") for i in range(2)]
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[bar(0, "30000", "30000", "30000", "30000")])
    activate_kill_switch(reason="drill", actor="test")
    result = supervise_running_strategies(now=C0_CLOSED + timedelta(seconds=1))
    assert sorted(result.paused) == sorted(s.pk for s in strategies)
    assert result.due == []
    for strategy in strategies:
        strategy.refresh_from_db()
        assert strategy.status == StrategyStatus.PAUSED
        assert list(strategy.events.values_list("actor", flat=True))[-1] == "kill-switch"
    assert not Order.objects.exists()


def test_supervisor_queues_steps_only_for_strategies_with_something_new(sim, account) -> None:
    strategy = running_strategy(account, "GRID", GRID)
    c0 = bar(0, "30000", "30000", "30000", "30000")
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[c0])
    now = C0_CLOSED + timedelta(seconds=1)
    assert supervise_running_strategies(now=now).due == [strategy.pk]  # eager: the step ran
    assert Order.objects.filter(strategy_id=strategy.pk).count() == 3
    sent = Order.objects.filter(strategy_id=strategy.pk, status="SUBMITTED").count()
    assert sent == 3
    assert supervise_running_strategies(now=now).due == []  # nothing new: no step queued
    c1 = bar(1, "30000", "30000", "30000", "30000")
    upsert_candles(symbol="BTCUSDT", interval="1m", candles=[c1])
    assert not is_due(Strategy.objects.get(pk=strategy.pk), now)  # c1 has not closed at `now`
    assert is_due(Strategy.objects.get(pk=strategy.pk), c1.close_time + timedelta(seconds=1))


def test_the_candle_poller_stores_closed_klines_and_marks_the_latest_close(sim, account) -> None:
    now_ms = sim.now_ms()
    start = now_ms - now_ms % 60_000 - 5 * 60_000  # five whole minutes back
    sim.record_history("BTCUSDT", [(start + i * 15_000, D(30000 + 10 * i)) for i in range(20)])
    stored = poll_series("BTCUSDT", "1m", account.pk)
    closes = [c.close for c in candles_between(symbol="BTCUSDT", interval="1m")]
    assert stored == len(closes) >= 4
    mark = Mark.objects.get(symbol="BTCUSDT")
    assert mark.price == closes[-1]
    assert mark.source == "candle:1m"
    assert poll_series("BTCUSDT", "1m", account.pk) == 0  # nothing new: nothing rewritten
