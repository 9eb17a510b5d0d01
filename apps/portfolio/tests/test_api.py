"""GET /api/v1/portfolio/positions/, /balances/, /pnl/, /pnl/history/: figures, freshness on
every response, user scoping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.execution.tests.factories import AccountFactory
from apps.portfolio import services

from .factories import PnlSnapshotFactory, balance_message, fill, order_for, reconciled, relay

FRESHNESS_KEYS = {"is_stale", "data_as_of", "stale_reasons"}


@pytest.fixture
def traded(account):
    """Bought 1 BTC at 30000 (fee 30 USDT), sold 0.5 at 31000 (fee 0.0005 BTC, so 0.5005 BTC left
    the wallet and the position); marked 32000 now."""
    now = timezone.now()
    services.handle_balance_reported(
        balance_message(
            account_id=account.pk, event_time=now - timedelta(hours=1), balances={"USDT": ("100000", "0")}
        )
    )
    fill(
        order_for(account, "BUY", "1"),
        "1",
        "30000",
        commission="30",
        asset="USDT",
        executed_at=now - timedelta(minutes=30),
    )
    fill(
        order_for(account, "SELL", "0.5"),
        "0.5",
        "31000",
        commission="0.0005",
        asset="BTC",
        executed_at=now - timedelta(minutes=20),
    )
    relay()
    services.record_mark(symbol="BTCUSDT", price=Decimal("32000"), as_of=now, source="test")
    reconciled(account, now)
    return account


def decimals(row: dict, *keys: str) -> tuple[Decimal | None, ...]:
    return tuple(None if row[k] is None else Decimal(row[k]) for k in keys)


@pytest.mark.django_db
def test_positions(api_client: APIClient, traded) -> None:
    response = api_client.get("/api/v1/portfolio/positions/")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body.keys() >= FRESHNESS_KEYS
    assert body["is_stale"] is False
    assert body["data_as_of"] is not None
    [row] = body["results"]
    assert row.keys() >= FRESHNESS_KEYS
    assert (row["account"], row["symbol"], row["quote_asset"], row["version"]) == (
        traded.pk,
        "BTCUSDT",
        "USDT",
        2,
    )
    assert decimals(
        row, "quantity", "average_price", "realized_pnl", "unrealized_pnl", "fees_paid", "net_pnl"
    ) == (
        Decimal("0.4995"),
        Decimal("30000"),
        Decimal("500.5"),  # 0.5005 BTC at 31000 against 30000 (0.0005 of it paid as the fee)
        Decimal("999"),  # 0.4995 BTC at 32000 against 30000
        Decimal("45.5"),  # 30 USDT + 0.0005 BTC at 31000
        Decimal("1454"),  # the equity change: 85470 + 0.4995 * 32000 - 100000
    )
    assert row["fees_complete"] is True


@pytest.mark.django_db
def test_flat_positions_are_listed_unless_excluded(api_client: APIClient, account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000")
    fill(order_for(account, "SELL", "1"), "1", "30100")
    fill(order_for(account, "BUY", "1", symbol="ETHBTC"), "1", "0.05")
    relay()

    listed = api_client.get("/api/v1/portfolio/positions/").json()["results"]
    open_only = api_client.get("/api/v1/portfolio/positions/", {"include_flat": "false"}).json()["results"]
    one = api_client.get("/api/v1/portfolio/positions/", {"symbol": "BTCUSDT"}).json()["results"]

    assert [r["symbol"] for r in listed] == ["BTCUSDT", "ETHBTC"]
    assert [r["symbol"] for r in open_only] == ["ETHBTC"]
    assert [(r["symbol"], Decimal(r["realized_pnl"])) for r in one] == [("BTCUSDT", Decimal("100"))]


@pytest.mark.django_db
def test_balances_with_derived_totals_and_drift(api_client: APIClient, traded) -> None:
    body = api_client.get("/api/v1/portfolio/balances/").json()

    assert body.keys() >= FRESHNESS_KEYS
    rows = {r["asset"]: r for r in body["results"]}
    assert set(rows) == {"BTC", "USDT"}
    assert decimals(rows["USDT"], "free", "reported_total", "derived_total", "unconfirmed_change") == (
        Decimal("100000"),
        Decimal("100000"),
        Decimal("85470"),  # 100000 - 30000 - 30 + 15500
        Decimal("-14530"),
    )
    assert rows["USDT"]["drift"] is None
    assert rows["BTC"]["reported_at"] is None
    assert Decimal(rows["BTC"]["derived_total"]) == Decimal("0.4995")


@pytest.mark.django_db
def test_pnl_per_symbol_and_totals(api_client: APIClient, traded) -> None:
    body = api_client.get("/api/v1/portfolio/pnl/", {"account": traded.pk}).json()

    assert body["is_stale"] is False
    [symbol] = body["symbols"]
    assert symbol.keys() >= FRESHNESS_KEYS
    assert decimals(symbol, "realized_pnl", "unrealized_pnl", "net_pnl", "exposure") == (
        Decimal("500.5"),
        Decimal("999"),
        Decimal("1454"),
        Decimal("15984"),
    )
    totals = body["totals"]
    assert totals["valuation_asset"] == "USDT"
    assert decimals(
        totals, "realized_pnl", "unrealized_pnl", "fees", "net_pnl", "gross_exposure", "equity"
    ) == (
        Decimal("500.5"),
        Decimal("999"),
        Decimal("45.5"),
        Decimal("1454"),  # equity - the 100000 USDT reported before trading
        Decimal("15984"),
        Decimal("101454"),  # 85470 USDT + 0.4995 BTC * 32000
    )
    assert totals["unvalued"] == []


@pytest.mark.django_db
def test_stale_answers_say_why(api_client: APIClient, account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000")
    relay()

    body = api_client.get("/api/v1/portfolio/pnl/").json()

    assert body["is_stale"] is True
    assert set(body["stale_reasons"]) == {"mark_missing:BTCUSDT", f"never_reconciled:account-{account.pk}"}
    assert body["symbols"][0]["unrealized_pnl"] is None
    assert body["totals"]["unvalued"] == ["BTCUSDT"]
    assert body["totals"]["equity"] is None


@pytest.mark.django_db
def test_users_see_only_their_own_accounts(api_client, other_api_client, other_user, traded) -> None:
    for path in ("positions", "balances", "pnl", "pnl/history"):
        url = f"/api/v1/portfolio/{path}/"
        other = other_api_client.get(url)
        assert other.status_code == 200, path
        assert not other.json().get("results"), path
        assert not other.json().get("symbols"), path
        refused = other_api_client.get(url, {"account": traded.pk})
        assert refused.status_code == 404, path
        assert refused.json()["error"]["code"] == "not_found"
    theirs = AccountFactory.create(owner=other_user)
    assert api_client.get("/api/v1/portfolio/positions/", {"account": theirs.pk}).status_code == 404
    assert api_client.get("/api/v1/portfolio/positions/", {"account": "x"}).status_code == 400


@pytest.mark.django_db
def test_pnl_history_in_a_date_range(api_client, other_user, account) -> None:
    today = timezone.now().date()
    for days_ago, net in ((40, "1"), (3, "10"), (2, "12"), (1, "9")):
        PnlSnapshotFactory.create(
            account=account, date=today - timedelta(days=days_ago), net_pnl=Decimal(net)
        )
    PnlSnapshotFactory.create(account=AccountFactory.create(owner=other_user), date=today - timedelta(days=2))

    body = api_client.get("/api/v1/portfolio/pnl/history/").json()
    assert body.keys() >= FRESHNESS_KEYS
    assert [Decimal(r["net_pnl"]) for r in body["results"]] == [Decimal("10"), Decimal("12"), Decimal("9")]
    assert body["results"][0].keys() >= FRESHNESS_KEYS

    ranged = api_client.get(
        "/api/v1/portfolio/pnl/history/",
        {"since": (today - timedelta(days=2)).isoformat(), "until": (today - timedelta(days=2)).isoformat()},
    ).json()
    assert [r["date"] for r in ranged["results"]] == [(today - timedelta(days=2)).isoformat()]
    bad = api_client.get(
        "/api/v1/portfolio/pnl/history/", {"since": today.isoformat(), "until": "2020-01-01"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "since"


@pytest.mark.django_db
def test_schema_documents_the_portfolio_endpoints(api_client) -> None:
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    for path in ("positions", "balances", "pnl", "pnl/history"):
        assert f"/api/v1/portfolio/{path}/" in schema["paths"]
    assert "is_stale" in schema["components"]["schemas"]["PositionsResponse"]["properties"]
