"""Lifecycle services: the transition table, start preconditions, stop, optimistic locking."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.domain import OrderStatus
from apps.core.errors import Conflict, ValidationFailed
from apps.execution.tests.factories import AccountFactory, OrderFactory
from apps.risk.services import activate_kill_switch, publish_heartbeat, redis_keys
from apps.strategy import services
from apps.strategy.configs import ConfigInvalid
from apps.strategy.lifecycle import TRANSITIONS, IllegalTransition, check_transition
from apps.strategy.models import Strategy, StrategyEvent, StrategyStatus
from apps.strategy.services import StaleVersion, StartRefused

from .factories import StrategyFactory, dca_config, grid_config, store_candles

S = StrategyStatus
pytestmark = pytest.mark.django_db


def _codes(strategy: Strategy) -> list[str]:
    return [r.code for r in services.start_preconditions(strategy)]


def _refused_codes(strategy: Strategy) -> list[str]:
    with pytest.raises(StartRefused) as caught:
        services.start_strategy(strategy_id=strategy.pk, actor="test")
    return [r["code"] for r in caught.value.details["reasons"]]


# ---- the table ----


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_table_is_the_only_authority(current: S, target: S) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def _move(strategy: Strategy, target: S) -> Strategy:
    if target == S.RUNNING:
        return services.start_strategy(strategy_id=strategy.pk, actor="test")
    if target == S.PAUSED:
        return services.pause_strategy(strategy_id=strategy.pk, actor="test")
    if target == S.STOPPED:
        return services.stop_strategy(strategy_id=strategy.pk, actor="test", cancel_open_orders=True)
    return services.mark_error(strategy_id=strategy.pk, error="boom")


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", [S.RUNNING, S.PAUSED, S.STOPPED, S.ERROR])
def test_services_follow_the_table_and_illegal_moves_write_nothing(
    startable: None, account, current: S, target: S
) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=current, version=3)
    if target in TRANSITIONS[current]:
        moved = _move(strategy, target)
        assert moved.status == target
        assert moved.version == 4
        event = StrategyEvent.objects.get(strategy=strategy)
        assert (event.from_status, event.to_status, event.actor) == (
            current,
            target,
            "engine" if target == S.ERROR else "test",
        )
    else:
        with pytest.raises(IllegalTransition):
            _move(strategy, target)
        strategy.refresh_from_db()
        assert (strategy.status, strategy.version) == (current, 3)
        assert not StrategyEvent.objects.filter(strategy=strategy).exists()


def test_every_status_is_reachable_and_draft_is_never_returned_to() -> None:
    reachable = {S.DRAFT} | {t for targets in TRANSITIONS.values() for t in targets}
    assert reachable == set(S)
    assert all(S.DRAFT not in targets for targets in TRANSITIONS.values())


# ---- start ----


def test_start_from_draft_resets_runtime_fields(startable: None, account) -> None:
    strategy = StrategyFactory.create(
        owner=account.owner, account=account, state={"seq": 4}, last_error="old", consecutive_failures=2
    )
    started = services.start_strategy(strategy_id=strategy.pk, actor="user:1")
    assert started.status == S.RUNNING
    assert (started.state, started.last_error, started.consecutive_failures) == ({}, "", 0)
    event = StrategyEvent.objects.get(strategy=strategy)
    assert event.details == {"fresh_state": True}
    assert event.reason == "started"


def test_resume_from_pause_keeps_the_runtime_state(startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=S.PAUSED, state={"seq": 4})
    resumed = services.start_strategy(strategy_id=strategy.pk, actor="test")
    assert resumed.status == S.RUNNING
    assert resumed.state == {"seq": 4}


def test_all_preconditions_hold(startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert services.start_preconditions(strategy) == []


def test_kill_switch_active_refuses_start_and_writes_nothing(startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    activate_kill_switch(reason="drill", actor="ops")
    assert _refused_codes(strategy) == ["kill_switch_active"]
    strategy.refresh_from_db()
    assert (strategy.status, strategy.version) == (S.DRAFT, 1)
    assert not StrategyEvent.objects.filter(strategy=strategy).exists()


def test_unreadable_kill_switch_fails_closed(startable: None, account, redis_down: None) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert {"kill_switch_active", "risk_unavailable"} <= set(_codes(strategy))


def test_stale_candles_refuse_start(instrument, account) -> None:
    publish_heartbeat()
    store_candles(last_close_before=timezone.now() - timedelta(hours=3))
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert _refused_codes(strategy) == ["stale_candles"]


def test_candles_two_intervals_old_are_fresh_enough(instrument, account) -> None:
    publish_heartbeat()
    now = timezone.now()
    store_candles(last_close_before=now - timedelta(minutes=59))
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert services.start_preconditions(strategy, now=now) == []


def test_no_candles_refuse_start(instrument, account) -> None:
    publish_heartbeat()
    strategy = StrategyFactory.create(owner=account.owner, account=account, interval="4h")
    assert _codes(strategy) == ["no_candles"]


def test_disabled_account_refuses_start(startable: None, account) -> None:
    account.is_active = False
    account.save()
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert _refused_codes(strategy) == ["account_inactive"]


def test_unknown_symbol_refuses_start(startable: None, account) -> None:
    store_candles(symbol="NOPEUSDT", last_close_before=timezone.now())
    strategy = StrategyFactory.create(owner=account.owner, account=account, symbol="NOPEUSDT")
    assert _codes(strategy) == ["unknown_symbol"]


def test_risk_without_heartbeat_refuses_start(startable: None, account) -> None:
    redis_keys.client().delete(redis_keys.key("heartbeat"))
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert _codes(strategy) == ["risk_unavailable"]


def test_preflight_rejections_refuse_start(startable: None, account) -> None:
    strategy = StrategyFactory.create(
        owner=account.owner, account=account, kind="GRID", config=grid_config(quantity_per_level="0.0002")
    )
    reasons = services.start_preconditions(strategy)
    assert [r.code for r in reasons] == ["preflight_rejected"]
    assert "level order 0" in reasons[0].message


def test_every_failing_precondition_is_listed(instrument, account) -> None:
    account.is_active = False
    account.save()
    activate_kill_switch(reason="drill", actor="ops")
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    assert _refused_codes(strategy) == [
        "account_inactive",
        "kill_switch_active",
        "risk_unavailable",
        "no_candles",
    ]


# ---- stop, pause, error ----


def test_stop_cancels_only_the_strategys_open_orders(startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=S.RUNNING)
    resting = OrderFactory.create(account=account, strategy_id=strategy.pk, status=OrderStatus.SUBMITTED)
    unsent = OrderFactory.create(
        account=account, strategy_id=strategy.pk, status=OrderStatus.NEW, submit_attempts=0
    )
    filled = OrderFactory.create(account=account, strategy_id=strategy.pk, status=OrderStatus.FILLED)
    manual = OrderFactory.create(account=account, strategy_id=None, status=OrderStatus.SUBMITTED)
    other = OrderFactory.create(account=account, strategy_id=strategy.pk + 1000, status=OrderStatus.SUBMITTED)
    stopped = services.stop_strategy(strategy_id=strategy.pk, actor="user:1", cancel_open_orders=True)
    assert stopped.status == S.STOPPED
    statuses = {
        o.pk: o.status
        for o in type(resting).objects.filter(pk__in=[resting.pk, unsent.pk, filled.pk, manual.pk, other.pk])
    }
    assert statuses == {
        resting.pk: OrderStatus.CANCEL_REQUESTED,
        unsent.pk: OrderStatus.CANCEL_REQUESTED,
        filled.pk: OrderStatus.FILLED,
        manual.pk: OrderStatus.SUBMITTED,
        other.pk: OrderStatus.SUBMITTED,
    }
    event = StrategyEvent.objects.get(strategy=strategy)
    assert event.details == {"cancel_open_orders": True, "cancel_requested": sorted([resting.pk, unsent.pk])}


def test_stop_can_keep_open_orders(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=S.PAUSED)
    resting = OrderFactory.create(account=account, strategy_id=strategy.pk, status=OrderStatus.SUBMITTED)
    services.stop_strategy(strategy_id=strategy.pk, actor="test", cancel_open_orders=False)
    resting.refresh_from_db()
    assert resting.status == OrderStatus.SUBMITTED


def test_mark_error_keeps_the_cause(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=S.RUNNING)
    failed = services.mark_error(
        strategy_id=strategy.pk, error="venue rejected the grid: insufficient balance"
    )
    assert failed.status == S.ERROR
    assert failed.last_error == "venue rejected the grid: insufficient balance"
    assert StrategyEvent.objects.get(strategy=strategy).reason == failed.last_error


# ---- create / update / delete ----


def test_create_writes_a_draft_with_a_normalized_config(account) -> None:
    strategy = services.create_strategy(
        owner=account.owner,
        account=account,
        name=" dca 1 ",
        kind="DCA",
        symbol="btcusdt",
        interval="1h",
        config=dca_config(take_profit=Decimal("1.50")),
        actor="user:1",
    )
    assert (strategy.name, strategy.symbol, strategy.status, strategy.version) == (
        "dca 1",
        "BTCUSDT",
        S.DRAFT,
        1,
    )
    assert strategy.config["take_profit"] == [{"pct": "1.5", "close_fraction": "1"}]
    event = StrategyEvent.objects.get(strategy=strategy)
    assert (event.from_status, event.to_status) == ("", S.DRAFT)


def test_create_refuses_someone_elses_account(account, other_user) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.create_strategy(
            owner=other_user, account=account, name="x", kind="DCA", symbol="BTCUSDT", interval="1h",
            config=dca_config(), actor="test",
        )  # fmt: skip
    assert caught.value.field == "account"
    assert not Strategy.objects.exists()


def test_create_refuses_invalid_configs_and_writes_nothing(account) -> None:
    with pytest.raises(ConfigInvalid):
        services.create_strategy(
            owner=account.owner, account=account, name="x", kind="GRID", symbol="BTCUSDT", interval="1h",
            config=dca_config(), actor="test",
        )  # fmt: skip
    assert not Strategy.objects.exists()
    assert not StrategyEvent.objects.exists()


def test_duplicate_names_conflict(account) -> None:
    StrategyFactory.create(owner=account.owner, account=account, name="same")
    with pytest.raises(Conflict):
        services.create_strategy(
            owner=account.owner, account=account, name="same", kind="DCA", symbol="BTCUSDT", interval="1h",
            config=dca_config(), actor="test",
        )  # fmt: skip


def test_update_with_a_stale_version_is_refused(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, version=2)
    with pytest.raises(StaleVersion) as caught:
        services.update_strategy(
            strategy_id=strategy.pk, expected_version=1, changes={"name": "new"}, actor="t"
        )
    assert caught.value.status_code == 409
    assert caught.value.details == {"current_version": 2}
    strategy.refresh_from_db()
    assert strategy.name != "new"


def test_a_status_change_makes_an_earlier_read_stale(startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    services.start_strategy(strategy_id=strategy.pk, actor="t")
    services.stop_strategy(strategy_id=strategy.pk, actor="t", cancel_open_orders=False)
    with pytest.raises(StaleVersion):
        services.update_strategy(
            strategy_id=strategy.pk, expected_version=1, changes={"name": "x"}, actor="t"
        )


def test_update_bumps_the_version_and_records_what_changed(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    updated = services.update_strategy(
        strategy_id=strategy.pk,
        expected_version=1,
        changes={"kind": "GRID", "config": grid_config(), "interval": "4h"},
        actor="t",
    )
    assert (updated.kind, updated.interval, updated.version) == ("GRID", "4h", 2)
    assert updated.config["levels"] == 5
    event = StrategyEvent.objects.get(strategy=strategy)
    assert sorted(event.details["changed"]) == ["config", "interval", "kind"]


def test_kind_change_needs_a_config(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    with pytest.raises(ValidationFailed):
        services.update_strategy(
            strategy_id=strategy.pk, expected_version=1, changes={"kind": "GRID"}, actor="t"
        )


@pytest.mark.parametrize("status", [S.RUNNING, S.PAUSED, S.ERROR])
def test_config_changes_are_refused_unless_draft_or_stopped(account, status: S) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=status)
    with pytest.raises(Conflict) as caught:
        services.update_strategy(
            strategy_id=strategy.pk,
            expected_version=1,
            changes={"config": dca_config(base_order_quote="50")},
            actor="t",
        )
    assert caught.value.field == "config"
    renamed = services.update_strategy(
        strategy_id=strategy.pk, expected_version=1, changes={"name": "renamed"}, actor="t"
    )
    assert (renamed.name, renamed.version, renamed.config) == ("renamed", 2, strategy.config)


def test_update_to_another_users_account_is_refused(account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    foreign = AccountFactory.create()
    with pytest.raises(ValidationFailed):
        services.update_strategy(
            strategy_id=strategy.pk, expected_version=1, changes={"account": foreign}, actor="t"
        )


@pytest.mark.parametrize("status", list(S))
def test_delete_only_when_nothing_can_be_live(account, status: S) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=status)
    if status in (S.DRAFT, S.STOPPED):
        services.delete_strategy(strategy_id=strategy.pk)
        assert not Strategy.objects.filter(pk=strategy.pk).exists()
    else:
        with pytest.raises(Conflict):
            services.delete_strategy(strategy_id=strategy.pk)
        assert Strategy.objects.filter(pk=strategy.pk).exists()
