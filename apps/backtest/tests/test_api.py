"""The backtests API: queue (task run eagerly), status, metrics, orders, equity; bad input is
400 with the field; someone else's run is a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from apps.backtest.models import BacktestRun, BacktestStatus
from apps.backtest.services import BacktestRequest, create_backtest, execute_backtest
from apps.candles.services import upsert_candles
from apps.candles.synthetic import SyntheticParams, synthetic_candles
from apps.execution.tests.factories import btcusdt
from apps.strategy.tests.factories import StrategyFactory, grid_config

from .helpers import START

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests/"
END = START + timedelta(minutes=3000)


@pytest.fixture
def market(db) -> None:
    btcusdt()
    upsert_candles(
        symbol="BTCUSDT",
        interval="1m",
        candles=list(
            synthetic_candles(
                interval="1m", start=START, count=3000, params=SyntheticParams(seed=3, volatility=0.002)
            )
        ),
    )


@pytest.fixture
def eager(celery_eager: None) -> None:
    """Tasks inline (the root conftest's fixture sets and restores it exactly)."""


def _body(**overrides: object) -> dict:
    body: dict[str, object] = {
        "kind": "GRID",
        "config": grid_config(
            lower_price="28000", upper_price="32000", levels=21, quantity_per_level="0.002"
        ),
        "symbol": "BTCUSDT",
        "interval": "1m",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "maker_fee": "0.001",
        "taker_fee": "0.001",
        "slippage_bps": "1",
        "initial_balance": "10000",
    }
    body.update(overrides)
    return body


def test_post_queues_and_the_task_runs_to_success(
    api_client: APIClient, market, eager, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, _body(), format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "QUEUED"
    run = api_client.get(f"{URL}{response.json()['id']}/").json()
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["progress"] == 1.0
    assert run["candle_count"] == 3000
    assert run["metrics"]["fills"] > 0
    assert len(run["fingerprint"]["result"]) == 64
    orders = api_client.get(f"{URL}{run['id']}/orders/").json()["results"]
    assert orders[0]["client_order_id"] == "sbt-1"
    filled = [o for o in orders if o["status"] == "FILLED"]
    assert filled
    assert all(o["fills"] for o in filled)
    assert sum(len(o["fills"]) for o in orders) == run["metrics"]["fills"]
    equity = api_client.get(f"{URL}{run['id']}/equity/").json()["results"]
    assert equity[0]["equity"] == "10000.000000000000000000"
    assert len(equity) == 1 + 3  # the start and three UTC days (3000 minutes from midnight)


def test_same_backtest_twice_same_digest_stored(user, market) -> None:
    request = BacktestRequest(
        kind="GRID", config=_body()["config"], symbol="BTCUSDT", interval="1m", start=START, end=END
    )
    runs = [
        execute_backtest(run_id=create_backtest(owner=user, request=request, enqueue=False).pk)
        for _ in range(2)
    ]
    assert [r.status for r in runs] == [BacktestStatus.SUCCEEDED] * 2
    assert runs[0].result_digest == runs[1].result_digest
    assert runs[0].data_hash == runs[1].data_hash
    assert runs[0].config_hash == runs[1].config_hash
    assert runs[0].orders.count() == runs[1].orders.count() > 0


def test_from_a_strategy_of_the_owner(api_client: APIClient, user, market) -> None:
    strategy = StrategyFactory.create(owner=user, kind="GRID", config=_body()["config"])
    body = _body(strategy=strategy.pk)
    del body["kind"], body["config"]
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 202, response.json()
    assert BacktestRun.objects.get(pk=response.json()["id"]).strategy_id == strategy.pk


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"config": {"lower_price": "1"}}, None, "invalid_config"),
        ({"symbol": "NOPEUSDT"}, "symbol", "unknown_symbol"),
        ({"interval": "7m"}, "interval", "invalid"),
        ({"end": START.isoformat()}, "end", "invalid"),
        ({"taker_fee": "0.5"}, "taker_fee", "invalid"),
        ({"initial_balance": "0"}, "initial_balance", "min_value"),
        ({"kind": None}, "kind", "invalid"),
    ],
)
def test_bad_input_is_400_with_the_field(api_client: APIClient, market, overrides, field, code) -> None:
    body = {k: v for k, v in _body(**overrides).items() if v is not None}
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field or field in (error.get("fields") or {})
    assert not BacktestRun.objects.exists()


def test_someone_elses_strategy_and_run_are_404(
    api_client: APIClient, other_api_client: APIClient, other_user, user, market
) -> None:
    theirs = StrategyFactory.create(owner=other_user, kind="GRID", config=_body()["config"])
    body = _body(strategy=theirs.pk)
    del body["kind"], body["config"]
    assert api_client.post(URL, body, format="json").status_code == 404
    run = create_backtest(
        owner=other_user,
        request=BacktestRequest(
            kind="GRID", config=_body()["config"], symbol="BTCUSDT", interval="1m", start=START, end=END
        ),
        enqueue=False,
    )
    for suffix in ("", "orders/", "equity/"):
        assert api_client.get(f"{URL}{run.pk}/{suffix}").status_code == 404
        assert other_api_client.get(f"{URL}{run.pk}/{suffix}").status_code == 200
    assert api_client.get(URL).json()["results"] == []


def test_a_run_that_fails_reports_why(user, market) -> None:
    request = BacktestRequest(
        kind="GRID",
        config=_body()["config"],
        symbol="BTCUSDT",
        interval="1m",
        start=END,
        end=END + timedelta(days=1),
    )
    run = execute_backtest(run_id=create_backtest(owner=user, request=request, enqueue=False).pk)
    assert run.status == BacktestStatus.FAILED
    assert "no candles" in run.error


def test_swing_run_loads_history_before_the_start_for_its_rules(user, market) -> None:
    config = {
        "entry": "crosses_above(sma(close, 20), sma(close, 50))",
        "exit": "crosses_below(sma(close, 20), sma(close, 50))",
        "sizing_mode": "quote",
        "sizing_value": "500",
    }
    start = START + timedelta(minutes=1000)
    request = BacktestRequest(
        kind="SWING", config=config, symbol="BTCUSDT", interval="1m", start=start, end=END
    )
    run = execute_backtest(run_id=create_backtest(owner=user, request=request, enqueue=False).pk)
    assert run.status == BacktestStatus.SUCCEEDED, run.error
    assert run.candle_count == 2000
    assert run.timings["warmup_candles"] == 51  # SMA(50) crossing: 50 candles and the one before
    first = run.orders.order_by("id").first()
    assert first is not None
    assert first.created_at >= start
