"""The strategies API: CRUD, validate (normalized config + preflight or JSON-path errors),
lifecycle actions with 409 reasons, history, owner isolation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.core.domain import OrderStatus
from apps.execution.tests.factories import AccountFactory, OrderFactory
from apps.risk.services import activate_kill_switch
from apps.strategy.models import Strategy, StrategyEvent, StrategyStatus

from .factories import StrategyFactory, dca_config, grid_config, swing_config

pytestmark = pytest.mark.django_db
URL = "/api/v1/strategies/"


def _create(client: APIClient, account_id: int, **overrides: object) -> dict:
    body = {
        "account": account_id,
        "name": "dca",
        "kind": "DCA",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "config": dca_config(),
        **overrides,
    }
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_list_retrieve(api_client: APIClient, account) -> None:
    created = _create(api_client, account.pk)
    assert created["status"] == "DRAFT"
    assert created["version"] == 1
    assert created["config"]["take_profit"][1] == {"pct": "2", "close_fraction": "0.5"}
    listed = api_client.get(URL).json()
    assert [s["id"] for s in listed["results"]] == [created["id"]]
    assert api_client.get(f"{URL}{created['id']}/").json()["name"] == "dca"


def test_create_with_json_numbers(api_client: APIClient, account) -> None:
    response = api_client.post(
        URL,
        data=(
            f'{{"account": {account.pk}, "name": "n", "kind": "GRID", "symbol": "BTCUSDT", "interval": "1h", '
            '"config": {"lower_price": 20000.50, "upper_price": 40000, "levels": 5, '
            '"quantity_per_level": 0.001}}'
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["lower_price"] == "20000.5"


def test_invalid_config_is_400_with_every_error_path(api_client: APIClient, account) -> None:
    config = dca_config(
        take_profit=[{"pct": "1", "close_fraction": "0.5"}, {"pct": "x", "close_fraction": "0.5"}]
    )
    config["bogus"] = 1
    response = api_client.post(
        URL,
        {
            "account": account.pk,
            "name": "n",
            "kind": "DCA",
            "symbol": "BTCUSDT",
            "interval": "1h",
            "config": config,
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    paths = {(e["path"], e["code"]) for e in error["details"]["errors"]}
    assert paths == {("$.bogus", "unknown_field"), ("$.take_profit[1].pct", "invalid_decimal")}
    assert error["field"] in {"$.bogus", "$.take_profit[1].pct"}
    assert not Strategy.objects.exists()


def test_create_on_someone_elses_account_is_404(api_client: APIClient) -> None:
    foreign = AccountFactory.create()
    response = api_client.post(
        URL,
        {
            "account": foreign.pk,
            "name": "n",
            "kind": "DCA",
            "symbol": "BTCUSDT",
            "interval": "1h",
            "config": dca_config(),
        },
        format="json",
    )
    assert response.status_code == 404
    assert not Strategy.objects.exists()


def test_others_strategies_are_invisible(api_client: APIClient, other_api_client: APIClient, account) -> None:
    mine = _create(api_client, account.pk)
    detail = f"{URL}{mine['id']}/"
    assert other_api_client.get(URL).json()["results"] == []
    assert other_api_client.get(detail).status_code == 404
    assert other_api_client.patch(detail, {"name": "x", "version": 1}, format="json").status_code == 404
    assert other_api_client.delete(detail).status_code == 404
    for verb in ("start", "pause", "stop", "events"):
        method = other_api_client.get if verb == "events" else other_api_client.post
        assert method(f"{detail}{verb}/").status_code == 404
    assert Strategy.objects.get(pk=mine["id"]).name == "dca"


def test_patch_with_version_and_stale_version(api_client: APIClient, account) -> None:
    created = _create(api_client, account.pk)
    detail = f"{URL}{created['id']}/"
    ok = api_client.patch(detail, {"version": 1, "config": dca_config(base_order_quote="15")}, format="json")
    assert ok.status_code == 200
    assert (ok.json()["version"], ok.json()["config"]["base_order_quote"]) == (2, "15")
    stale = api_client.patch(detail, {"version": 1, "name": "late"}, format="json")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["details"] == {"current_version": 2}
    by_header = api_client.patch(detail, {"name": "header"}, format="json", HTTP_IF_MATCH='"2"')
    assert by_header.status_code == 200
    assert by_header.json()["name"] == "header"
    missing = api_client.patch(detail, {"name": "x"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "version"


def test_put_replaces_every_field(api_client: APIClient, account) -> None:
    created = _create(api_client, account.pk)
    body = {
        "version": 1, "account": account.pk, "name": "grid", "kind": "GRID", "symbol": "ETHUSDT",
        "interval": "4h", "config": grid_config(),
    }  # fmt: skip
    response = api_client.put(f"{URL}{created['id']}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert {k: response.json()[k] for k in ("name", "kind", "symbol", "interval")} == {
        "name": "grid", "kind": "GRID", "symbol": "ETHUSDT", "interval": "4h",
    }  # fmt: skip
    partial = api_client.put(f"{URL}{created['id']}/", {"version": 2, "name": "x"}, format="json")
    assert partial.status_code == 400


def test_config_edit_while_running_is_409(api_client: APIClient, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=StrategyStatus.RUNNING)
    response = api_client.patch(
        f"{URL}{strategy.pk}/", {"version": 1, "config": dca_config(base_order_quote="99")}, format="json"
    )
    assert response.status_code == 409
    strategy.refresh_from_db()
    assert strategy.config["base_order_quote"] == "10"


def test_delete(api_client: APIClient, account) -> None:
    draft = StrategyFactory.create(owner=account.owner, account=account)
    running = StrategyFactory.create(owner=account.owner, account=account, status=StrategyStatus.RUNNING)
    assert api_client.delete(f"{URL}{draft.pk}/").status_code == 204
    assert api_client.delete(f"{URL}{running.pk}/").status_code == 409
    assert list(Strategy.objects.values_list("pk", flat=True)) == [running.pk]


# ---- validate ----


def test_validate_dca_returns_normalized_config_and_preflight(api_client: APIClient, instrument) -> None:
    response = api_client.post(
        f"{URL}validate/",
        {
            "kind": "DCA",
            "symbol": "BTCUSDT",
            "config": dca_config(take_profit="1.50"),
            "reference_price": "30000",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["config"]["take_profit"] == [{"pct": "1.5", "close_fraction": "1"}]
    preflight = body["preflight"]
    assert preflight["ok"] is True
    assert preflight["total_capital_quote"] == "149.634"
    assert [o["price"] for o in preflight["orders"]] == [None, "29400", "28200", "25800"]
    assert [o["quantity"] for o in preflight["orders"]] == ["0.00033", "0.00068", "0.00141", "0.0031"]
    assert preflight["summary"]["max_deviation_pct"] == "14"
    assert preflight["filters"]["tick_size"] == "0.01"


def test_validate_grid_lists_rejected_levels(api_client: APIClient, instrument) -> None:
    response = api_client.post(
        f"{URL}validate/",
        {"kind": "GRID", "symbol": "BTCUSDT", "config": grid_config(quantity_per_level="0.0002")},
        format="json",
    )
    assert response.status_code == 200
    preflight = response.json()["preflight"]
    assert preflight["ok"] is False
    assert [(o["index"], o["problem"]["code"]) for o in preflight["rejected"]] == [(0, "filter_min_notional")]
    assert [o["notional"] for o in preflight["orders"]] == ["4", "5", "6", "7", "8"]


@pytest.mark.parametrize(
    ("kind", "config", "path", "code"),
    [
        ("DCA", dca_config(max_active_safety_orders=9), "$.max_active_safety_orders", "exceeds_max"),
        ("GRID", grid_config(upper_price="100"), "$.upper_price", "not_above_lower"),
        ("GRID", grid_config(total_investment_quote="5"), "$.total_investment_quote", "exactly_one"),
        ("SWING", swing_config(entry="close >> 1"), "$.entry", "dsl_syntax_error"),
        ("SWING", swing_config(exit="sma(close, 0) > 1"), "$.exit", "dsl_invalid_argument"),
    ],
)
def test_validate_rejects_with_json_paths(
    api_client: APIClient, kind: str, config: dict, path: str, code: str
) -> None:
    response = api_client.post(
        f"{URL}validate/", {"kind": kind, "symbol": "BTCUSDT", "config": config}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["error"]["details"]["errors"]
    assert (path, code) in [(e["path"], e["code"]) for e in errors]


def test_validate_swing_error_has_position(api_client: APIClient) -> None:
    response = api_client.post(
        f"{URL}validate/",
        {"kind": "SWING", "symbol": "BTCUSDT", "config": swing_config(entry="close > \n foo(1)")},
        format="json",
    )
    (error,) = response.json()["error"]["details"]["errors"]
    assert (error["path"], error["line"], error["column"]) == ("$.entry", 2, 2)


def test_validate_without_instrument_reports_the_problem(api_client: APIClient) -> None:
    response = api_client.post(
        f"{URL}validate/", {"kind": "GRID", "symbol": "BTCUSDT", "config": grid_config()}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["preflight"]["problems"][0]["code"] == "unknown_symbol"


# ---- lifecycle ----


def test_start_pause_stop_and_history(api_client: APIClient, startable: None, account) -> None:
    created = _create(api_client, account.pk)
    detail = f"{URL}{created['id']}/"
    assert api_client.post(f"{detail}start/").json()["status"] == "RUNNING"
    assert api_client.post(f"{detail}start/").status_code == 409  # RUNNING -> RUNNING is illegal
    assert api_client.post(f"{detail}pause/", {"reason": "lunch"}, format="json").json()["status"] == "PAUSED"
    order = OrderFactory.create(account=account, strategy_id=created["id"], status=OrderStatus.SUBMITTED)
    stopped = api_client.post(f"{detail}stop/", {}, format="json")
    assert stopped.json()["status"] == "STOPPED"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCEL_REQUESTED  # cancel_open_orders defaults to true
    events = api_client.get(f"{detail}events/").json()
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("", "DRAFT"), ("DRAFT", "RUNNING"), ("RUNNING", "PAUSED"), ("PAUSED", "STOPPED"),
    ]  # fmt: skip
    assert events[2]["reason"] == "lunch"
    assert events[3]["details"]["cancel_requested"] == [order.pk]
    assert all(e["actor"] == f"user:{account.owner.pk}" for e in events)


def test_stop_keeping_orders(api_client: APIClient, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account, status=StrategyStatus.RUNNING)
    order = OrderFactory.create(account=account, strategy_id=strategy.pk, status=OrderStatus.SUBMITTED)
    response = api_client.post(f"{URL}{strategy.pk}/stop/", {"cancel_open_orders": False}, format="json")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_start_refused_is_409_with_reasons(api_client: APIClient, startable: None, account) -> None:
    strategy = StrategyFactory.create(owner=account.owner, account=account)
    activate_kill_switch(reason="drill", actor="ops")
    response = api_client.post(f"{URL}{strategy.pk}/start/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "strategy_not_startable"
    assert [r["code"] for r in error["details"]["reasons"]] == ["kill_switch_active"]
    assert "drill" in error["details"]["reasons"][0]["message"]
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.DRAFT
    assert not StrategyEvent.objects.filter(strategy=strategy).exists()


def test_openapi_schema_lists_the_endpoints(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/v1/strategies/validate/",
        "/api/v1/strategies/{id}/start/",
        "/api/v1/strategies/{id}/events/",
    ):
        assert path in text
