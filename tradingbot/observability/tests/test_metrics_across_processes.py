"""Acceptance: /metrics scraped after an order and its fills shows the counters moved,
including those incremented only inside a real Celery worker process (multiprocess mode).

The order is taken by the API in this process; the worker (queues execution, outbox,
reconciliation) sends it to the simulator, records the acknowledgement, applies the fills
that reconciliation finds and relays them to portfolio. No user stream runs, so every one
of those steps can only have happened in the worker."""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from apps.core.domain import OrderStatus
from apps.execution import tasks
from apps.execution.models import Fill, Order
from apps.execution.services.outbox import _RELAY_DEBOUNCE_KEY
from apps.execution.tests.live import wait_for
from apps.portfolio.models import Position

from .helpers import scrape, start_worker, stop, value


def _post_market_buy(api_client, account_id: int) -> dict:
    response = api_client.post(
        "/api/v1/orders/",
        {"account": account_id, "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.02",
         "client_order_id": "metrics-1"},
        format="json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_counters_move_after_an_order_and_a_fill_including_inside_a_worker(
    sim, account, api_client, tmp_path: Path
) -> None:
    worker = start_worker(tmp_path / "worker.log", "execution,outbox,reconciliation")
    try:
        cache.delete(_RELAY_DEBOUNCE_KEY)
        before = scrape()

        order_id = _post_market_buy(api_client, account.pk)["id"]
        assert wait_for(lambda: Order.objects.get(pk=order_id).exchange_order_id != "", timeout=20), (
            tmp_path / "worker.log"
        ).read_text()
        tasks.reconcile_account.delay(account.pk, "test")  # the fills reach us through the worker
        assert wait_for(lambda: Order.objects.get(pk=order_id).status == OrderStatus.FILLED, timeout=20)
        assert wait_for(lambda: Position.objects.filter(account=account).exists(), timeout=20)
        fills = Fill.objects.filter(order_id=order_id).count()
        after = scrape()
    finally:
        stop(worker)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Taken here, in the web (pytest) process.
    assert moved("tradingbot_risk_validation_seconds_count") == 1
    assert moved("django_http_responses_total_by_status_total", status="201") >= 1
    # Incremented only inside the worker process.
    assert moved("tradingbot_order_transitions_total", from_status="NEW", to_status="SUBMITTED") == 1
    assert moved("tradingbot_order_transitions_total", from_status="SUBMITTED", to_status="FILLED") == 1
    assert moved("tradingbot_order_ack_latency_seconds_count") == 1
    assert moved("tradingbot_fills_applied_total") == fills >= 1
    assert moved("tradingbot_portfolio_position_updates_total") == fills
    venue = sim.base_url.split("//", 1)[1]
    assert moved("tradingbot_exchange_requests_total", venue=venue) >= 2
    assert value(after, "tradingbot_exchange_weight_used_1m", venue=venue) > 0
    # Read at scrape time from PostgreSQL.
    assert value(after, "tradingbot_orders", status="FILLED") == 1
    assert moved("tradingbot_reconciliation_runs_total", account=str(account.pk), status="succeeded") == 1
    assert (
        moved("tradingbot_reconciliation_repairs_total", account=str(account.pk), kind="fills_repaired")
        == fills
    )
    # The worker wrote its own files (multiprocess mode), which the scrape merged.
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert list(directory.glob(f"*_{worker.pid}.db"))


@pytest.mark.django_db(transaction=True)
def test_ack_latency_is_the_time_from_intake_to_acknowledgement(sim, account, api_client, tmp_path) -> None:
    before = scrape()
    order_id = _post_market_buy(api_client, account.pk)["id"]
    time.sleep(0.3)  # the order waits in the queue before any worker sends it
    worker = start_worker(tmp_path / "worker.log", "execution")
    try:
        assert wait_for(lambda: Order.objects.get(pk=order_id).exchange_order_id != "", timeout=20)
        after = scrape(Client())
    finally:
        stop(worker)
    observed = value(after, "tradingbot_order_ack_latency_seconds_sum") - value(
        before, "tradingbot_order_ack_latency_seconds_sum"
    )
    created = Order.objects.get(pk=order_id)
    assert created.submitted_at is not None
    assert observed >= 0.3
    assert observed == pytest.approx((created.submitted_at - created.created_at).total_seconds(), abs=0.5)
    assert Decimal(str(observed)) > 0
