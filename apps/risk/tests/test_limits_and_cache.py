"""Optimistic locking of limits (API and concurrent writers) and the approval cache."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.errors import Conflict
from apps.risk.models import RiskLimits
from apps.risk.services import invalidate_approvals, set_limits, validate_order

from .factories import limits

D = Decimal


def put(client, body: dict, **headers: str):
    return client.put("/api/v1/risk/limits/", body, format="json", headers=headers)


def patch(client, body: dict, **headers: str):
    return client.patch("/api/v1/risk/limits/", body, format="json", headers=headers)


@pytest.mark.django_db
def test_first_put_with_version_zero_creates_then_stale_version_is_409(api_client, account) -> None:
    created = put(api_client, {"account": account.pk, "version": 0, "max_order_notional": "500"})
    assert created.status_code == 200, created.json()
    assert created.json()["version"] == 1
    stale = put(api_client, {"account": account.pk, "version": 0, "max_order_notional": "900"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert RiskLimits.objects.get(account=account).max_order_notional == 500


@pytest.mark.django_db
def test_patch_with_if_match_changes_only_the_given_limit(api_client, account) -> None:
    limits(account, max_order_notional=D("500"), max_open_orders=3)
    response = patch(api_client, {"account": account.pk, "max_open_orders": 5}, **{"If-Match": '"1"'})
    assert response.status_code == 200, response.json()
    row = RiskLimits.objects.get(account=account)
    assert (row.version, row.max_open_orders, row.max_order_notional) == (2, 5, 500)
    stale = patch(api_client, {"account": account.pk, "max_open_orders": 9}, **{"If-Match": "1"})
    assert stale.status_code == 409
    assert stale.json()["error"]["details"]["current_version"] == 2


@pytest.mark.django_db
def test_put_replaces_every_limit(api_client, account) -> None:
    limits(account, max_order_notional=D("500"), max_open_orders=3)
    response = put(api_client, {"account": account.pk, "version": 1, "max_position_size": "2"})
    assert response.status_code == 200
    row = RiskLimits.objects.get(account=account)
    assert (row.max_order_notional, row.max_open_orders, row.max_position_size) == (None, None, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_order_notional": "-1"}, "max_order_notional"),
        ({"max_order_notional": "abc"}, "max_order_notional"),
        ({"max_open_orders": -1}, "max_open_orders"),
        ({"symbol": "btc-usdt"}, "symbol"),
        ({"version": None}, "version"),
    ],
)
def test_bad_limits_are_400_naming_the_field_and_write_nothing(api_client, account, body, field) -> None:
    response = put(api_client, {"account": account.pk, "version": 0, **body})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field or field in error.get("fields", {})
    assert not RiskLimits.objects.exists()


@pytest.mark.django_db
def test_without_a_version_the_write_is_refused(api_client, account) -> None:
    response = patch(api_client, {"account": account.pk, "max_open_orders": 1})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "version"


@pytest.mark.django_db
def test_limits_of_another_users_account_are_invisible_and_unwritable(other_api_client, account) -> None:
    limits(account, max_open_orders=3)
    assert other_api_client.get("/api/v1/risk/limits/").json() == []
    response = put(other_api_client, {"account": account.pk, "version": 1, "max_open_orders": 99})
    assert response.status_code == 404
    assert RiskLimits.objects.get(account=account).max_open_orders == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_updates_with_the_same_version_one_wins_one_gets_409(account) -> None:
    limits(account, max_open_orders=1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(value: int) -> None:
        try:
            barrier.wait()
            set_limits(
                account_id=account.pk, symbol="", expected_version=1,
                values={"max_open_orders": value}, actor="t", replace=False,
            )  # fmt: skip
            outcomes.append(f"ok:{value}")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(v,)) for v in (7, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "version_conflict"]
    row = RiskLimits.objects.get(account=account)
    assert row.version == 2
    assert f"ok:{row.max_open_orders}" in outcomes


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_writes_one_creates_one_gets_409(account) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write() -> None:
        try:
            barrier.wait()
            set_limits(
                account_id=account.pk, symbol="", expected_version=0,
                values={"max_open_orders": 1}, actor="t", replace=False,
            )  # fmt: skip
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "version_conflict"]
    assert RiskLimits.objects.filter(account=account).count() == 1


def _check(account, quantity: str = "0.01"):
    return validate_order(
        account_id=account.pk, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=D(quantity), price=D("30000"),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_limit_change_makes_the_cached_approval_unusable(account) -> None:
    set_limits(account_id=account.pk, symbol="", expected_version=0,
               values={"max_order_notional": D("1000")}, actor="t", replace=False)  # fmt: skip
    first = _check(account)
    again = _check(account)
    assert first.approved
    assert not first.cached
    assert again.approved
    assert again.cached

    set_limits(account_id=account.pk, symbol="", expected_version=1,
               values={"max_order_notional": D("100")}, actor="t", replace=False)  # fmt: skip
    after = _check(account)
    assert not after.cached
    assert [r.code for r in after.reasons] == ["max_order_notional"]


@pytest.mark.django_db
def test_a_verdict_that_reads_the_accounts_state_is_never_cached(account) -> None:
    """Open orders, position, exposure and today's loss change with every order accepted: a
    verdict reading them is computed afresh each time, while a notional-only one is cached."""
    limits(account, max_order_notional=D("1000"))
    _check(account)
    assert _check(account).cached  # terms and limits only: reused

    for stateful in ({"max_open_orders": 5}, {"max_position_size": D("1")}, {"max_symbol_exposure": D("1e6")},
                     {"max_total_exposure": D("1e6")}, {"max_daily_loss": D("1e6")}):  # fmt: skip
        RiskLimits.objects.filter(account=account).delete()
        limits(account, max_order_notional=D("1000"), **stateful)
        first, again = _check(account), _check(account)
        assert first.approved, stateful
        assert again.approved, stateful
        assert not again.cached, stateful


@pytest.mark.django_db
def test_a_sell_under_buy_only_limits_is_still_cached(account) -> None:
    limits(account, max_order_notional=D("1000"), max_position_size=D("1"), max_daily_loss=D("100"))

    def sell():
        return validate_order(
            account_id=account.pk, symbol="BTCUSDT", side="SELL", order_type="LIMIT",
            quantity=D("0.01"), price=D("30000"),
        )  # fmt: skip

    sell()
    assert sell().cached
    _check(account)
    assert not _check(account).cached  # a buy reads the position and today's loss


@pytest.mark.django_db
def test_manual_invalidation_through_the_api_forces_a_fresh_check(api_client, account) -> None:
    limits(account, max_order_notional=D("1000"))
    _check(account)
    assert _check(account).cached
    response = api_client.post("/api/v1/risk/approvals/invalidate/", {"account": account.pk}, format="json")
    assert response.status_code == 204
    assert not _check(account).cached


@pytest.mark.django_db
def test_a_limit_written_behind_the_cache_is_still_seen_because_the_version_is_in_the_key(account) -> None:
    row = limits(account, max_order_notional=D("1000"))
    assert _check(account).approved
    RiskLimits.objects.filter(pk=row.pk).update(max_order_notional=D("1"), version=2)
    assert not _check(account).approved


@pytest.mark.django_db
def test_cache_failure_means_a_fresh_check_never_an_approval(account, redis_down) -> None:
    limits(account, max_order_notional=D("100"))
    approval = _check(account)
    assert not approval.approved
    assert not approval.cached
    invalidate_approvals(account_id=account.pk)  # must not raise either


@pytest.mark.django_db
def test_validate_endpoint_reports_reasons_without_placing(api_client, account) -> None:
    limits(account, max_order_notional=D("100"))
    body = {"account": account.pk, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
            "quantity": "0.01", "price": "30000"}  # fmt: skip
    response = api_client.post("/api/v1/risk/validate/", body, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["approved"] is False
    assert data["reasons"][0]["code"] == "max_order_notional"
    assert account.orders.count() == 0
