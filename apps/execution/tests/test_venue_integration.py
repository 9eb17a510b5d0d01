"""The live path end to end against the local Binance-compatible simulator: the real
python-binance client (REST) and our WebSocket API user stream, over loopback."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce, conform_to_filters
from apps.core.errors import ValidationFailed
from apps.exchange.binance.adapter import BinanceSpot
from apps.exchange.binance.errors import ClockSkew
from apps.exchange.domain import OrderRequest
from apps.exchange.errors import InvalidOrder, RateLimited
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services, venue_factories
from apps.execution.models import ExchangeAccount, Fill, Order
from apps.execution.services.orders import SubmissionPending

from .factories import BTCUSDT
from .live import API_KEY, API_SECRET, books_match_ledger, fast_stream, submit, wait_for


@pytest.mark.django_db(transaction=True)
def test_limit_order_placed_queried_and_canceled_through_python_binance(sim, account) -> None:
    order = submit(account, "int-limit-1", "BUY", "0.01", "29000.00")
    assert order.status == OrderStatus.SUBMITTED
    assert order.exchange_order_id

    adapter = venue_factories.binance_adapter_for(account)
    venue_order = adapter.get_order(symbol="BTCUSDT", client_order_id="int-limit-1")
    assert (venue_order.status, venue_order.exchange_order_id) == (
        OrderStatus.SUBMITTED,
        order.exchange_order_id,
    )
    assert [o.client_order_id for o in adapter.open_orders(symbol="BTCUSDT")] == ["int-limit-1"]

    services.request_cancel(order_id=order.pk, requested_by="test")
    order = services.send_cancel_to_exchange(order_id=order.pk)
    assert order.status == OrderStatus.CANCELED
    assert adapter.open_orders(symbol="BTCUSDT") == []


@pytest.mark.django_db(transaction=True)
def test_market_order_fills_arrive_over_the_stream_with_commission(sim, account) -> None:
    with fast_stream(account):
        order = submit(account, "int-mkt-1", "BUY", "0.02")
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)

    order.refresh_from_db()
    assert order.filled_quantity == Decimal("0.02")
    fills = list(Fill.objects.filter(order=order))
    assert fills
    assert all(f.commission > 0 and f.commission_asset == "BTC" for f in fills)
    assert books_match_ledger(account, sim)


@pytest.mark.django_db(transaction=True)
def test_partial_fills_over_the_stream_reach_apply_fill(sim, account) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.01"))
    with fast_stream(account):
        order = submit(account, "int-part-1", "BUY", "0.03", "29900.00")
        sim.set_price("BTCUSDT", Decimal("29900.00"))
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_FILLED)
        sim.set_price("BTCUSDT", Decimal("29890.00"))
        sim.set_price("BTCUSDT", Decimal("29880.00"))
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)

    assert Fill.objects.filter(order=order).count() == 3
    assert books_match_ledger(account, sim)


@pytest.mark.django_db(transaction=True)
def test_dropped_websocket_reconnects_within_5s_and_missed_fills_are_recovered(sim, account) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.01"))
    with fast_stream(account) as running:
        order = submit(account, "int-drop-1", "BUY", "0.05", "29900.00")
        sim.set_price("BTCUSDT", Decimal("29900.00"))
        assert wait_for(lambda: Fill.objects.filter(order=order).count() == 1)
        started = time.monotonic()
        sim.faults.drop_websockets()
        for price in ("29890.00", "29880.00", "29870.00", "29860.00"):
            sim.set_price("BTCUSDT", Decimal(price))  # fills while we are (maybe) disconnected
        assert wait_for(lambda: running.stream.connections >= 2, timeout=5)
        reconnected_after = time.monotonic() - started
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)

    assert reconnected_after < 5
    assert books_match_ledger(account, sim)
    assert Fill.objects.filter(order=order).count() == 5


@pytest.mark.django_db(transaction=True)
def test_duplicated_and_reordered_reports_give_the_same_books(sim, account) -> None:
    sim.set_liquidity("BTCUSDT", Decimal("0.01"))
    sim.faults.duplicate_events = True
    sim.faults.reorder_events = True
    with fast_stream(account):
        order = submit(account, "int-dup-1", "BUY", "0.04", "29900.00")
        for price in ("29900.00", "29890.00", "29880.00", "29870.00"):
            sim.set_price("BTCUSDT", Decimal(price))
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)

    order.refresh_from_db()
    ledger = sim.trades(API_KEY)
    assert order.filled_quantity == sum((Decimal(str(t["qty"])) for t in ledger), Decimal(0))
    assert order.cumulative_quote == sum((Decimal(str(t["quoteQty"])) for t in ledger), Decimal(0))
    assert Fill.objects.filter(order=order).count() == len(ledger) == 4


def test_adapter_backs_off_after_429_and_sends_nothing_until_retry_after(sim) -> None:
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    adapter.budget.max_wait = 0.5
    sim.faults.retry_after_seconds = 30
    sim.faults.fail_next(1, status=429)

    sent = count_requests(adapter)

    with pytest.raises(RateLimited) as first:
        adapter.open_orders(symbol="BTCUSDT")
    assert first.value.retry_after == 30
    with pytest.raises(RateLimited):
        adapter.open_orders(symbol="BTCUSDT")  # refused locally: the venue said wait 30 s
    assert sent == [429]


def test_adapter_never_exceeds_the_weight_budget(sim) -> None:
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    adapter.sync_time()
    adapter.budget.limit = 100
    adapter.budget.max_wait = 0.0
    sent = count_requests(adapter)

    refused = None
    for _ in range(100):
        try:
            adapter.open_orders(symbol="BTCUSDT")  # weight 6 each
        except RateLimited as exc:
            refused = exc
            break

    assert refused is not None
    # Stopped by its own budget (100 less a 10% margin), before the venue had to say 429.
    assert 0 < len(sent) * 6 <= 90
    assert 429 not in sent


def test_a_burst_of_new_orders_waits_for_the_next_window_instead_of_a_429() -> None:
    server = SimulatorServer(port=0, seed=7, orders_per_10s=5)  # learnt from exchangeInfo
    server.start()
    try:
        server.add_symbol(BTCUSDT, price=Decimal("30000.00"))
        server.add_account(api_key=API_KEY, api_secret=API_SECRET, balances={"USDT": Decimal("100000")})
        adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=server.base_url)
        counted: list[int] = []
        adapter.client.session.hooks["response"].append(
            lambda r, *a, **k: counted.append(int(r.headers.get("X-MBX-ORDER-COUNT-10S", -1)))
        )
        sent = count_requests(adapter)

        for i in range(6):
            adapter.place_order(
                OrderRequest(
                    symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.LIMIT, quantity=Decimal("0.001"),
                    price=Decimal("10000.00"), time_in_force=TimeInForce.GTC, client_order_id=f"burst-{i}",
                )
            )  # fmt: skip

        assert 429 not in sent
        assert len(adapter.open_orders(symbol="BTCUSDT")) == 6
        # 5 per 10 s less the 10% margin: never more than 4 orders in one of the venue's windows.
        assert max(counted) == 4
    finally:
        server.stop()


def test_balances_are_as_of_the_venue_update_time_else_the_local_time_before_the_request(
    sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconciliation stamps the balance report with this time: the venue's `updateTime`
    (its last balance change, on the clock of the trades' times), not the reply's arrival."""
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal("0.01"),
        client_order_id="b-1",
    )
    adapter.place_order(request)
    [trade] = adapter.trades_since(symbol="BTCUSDT", from_trade_id=0)
    time.sleep(0.05)
    snapshot = adapter.balances()
    assert snapshot.as_of == trade.executed_at
    assert {b.asset: b.free for b in snapshot.balances}["BTC"] > Decimal("10")

    answer = adapter.client.get_account

    def without_update_time(**params: Any) -> dict[str, Any]:
        time.sleep(0.05)
        return {k: v for k, v in answer(**params).items() if k != "updateTime"}

    monkeypatch.setattr(adapter.client, "get_account", without_update_time)
    before = datetime.now(tz=UTC)
    as_of = adapter.balances().as_of
    assert before <= as_of < before + (datetime.now(tz=UTC) - before) / 2  # taken before the reply


def count_requests(adapter: BinanceSpot) -> list[int]:
    """Status codes of the HTTP requests the adapter really sends from now on."""
    sent: list[int] = []
    adapter.client.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.status_code))
    return sent


def test_clock_skew_is_corrected_once_then_reported_not_retried(sim) -> None:
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    adapter.sync_time()
    sim.clock_offset_ms = 120_000  # the venue's clock jumps two minutes ahead

    assert adapter.open_orders(symbol="BTCUSDT") == []  # -1021, resync, success
    assert abs(adapter.client.timestamp_offset - 120_000) < 2_000

    calls = {"n": 0}
    real_sync = adapter.sync_time

    def sync_then_skew_again() -> int:
        calls["n"] += 1
        offset = real_sync()
        sim.clock_offset_ms += 120_000  # keeps running away: a broken clock
        return offset

    adapter.sync_time = sync_then_skew_again  # type: ignore[method-assign]
    sim.clock_offset_ms += 120_000
    with pytest.raises(ClockSkew):
        adapter.open_orders(symbol="BTCUSDT")
    assert calls["n"] == 1  # one resynchronisation, then a clear error


def test_local_filter_check_agrees_with_the_simulator(sim) -> None:
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    filters = adapter.symbol_filters(symbol="BTCUSDT")
    assert (filters.tick_size, filters.step_size, filters.min_qty, filters.min_notional) == (
        BTCUSDT.tick_size,
        BTCUSDT.step_size,
        BTCUSDT.min_qty,
        BTCUSDT.min_notional,
    )
    placed = adapter.place_order(
        OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("0.00123"),
            price=Decimal("20000.01"),
            client_order_id="filters-1",
            time_in_force=TimeInForce.GTC,
        )
    )
    assert placed.status == OrderStatus.SUBMITTED


@st.composite
def resting_limit_orders(draw: st.DrawFn) -> tuple[Side, Decimal, Decimal]:
    """Arbitrary-precision prices and quantities on the side of the book that does not fill."""
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    low, high = ("0.001", "29999.99") if side == Side.BUY else ("30000.01", "90000")
    price = draw(st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=6))
    notional = draw(st.decimals(min_value=Decimal("1"), max_value=Decimal("50000"), places=4))
    return side, (notional / price).quantize(Decimal("1E-12")), price


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(order=resting_limit_orders())
def test_no_value_the_adapter_accepts_is_refused_by_the_venue_filters(sim, order) -> None:
    side, quantity, price = order
    adapter = BinanceSpot(api_key=API_KEY, api_secret=API_SECRET, base_url=sim.base_url)
    try:
        conformed = conform_to_filters(BTCUSDT, side=side, quantity=quantity, price=price, snap=True)
    except ValidationFailed:
        assume(False)
        return
    cid = f"prop-{uuid.uuid4().hex[:20]}"
    refusal: InvalidOrder | None = None
    try:
        adapter.place_order(
            OrderRequest(
                symbol="BTCUSDT",
                side=side,
                order_type=OrderType.LIMIT,
                quantity=conformed.quantity,
                price=conformed.price,
                client_order_id=cid,
                time_in_force=TimeInForce.GTC,
            )
        )
    except InvalidOrder as exc:
        refusal = exc  # balance may run out (-2010); a filter failure (-1013) never may
    else:
        adapter.cancel_order(symbol="BTCUSDT", client_order_id=cid)
    assert refusal is None or refusal.venue_code != -1013, refusal.message


@pytest.mark.django_db(transaction=True)
def test_api_credentials_never_reach_the_logs(sim, account, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with fast_stream(account):
        order = submit(account, "log-1", "BUY", "0.01")
        assert wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED)
    sim.faults.fail_next(1, status=500)
    with pytest.raises(SubmissionPending):
        submit(account, "log-2", "BUY", "0.01", "29000.00")

    assert caplog.records  # the run did log (DEBUG included)
    assert API_KEY not in caplog.text
    assert API_SECRET not in caplog.text
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert API_SECRET not in stored.api_secret_encrypted
    assert API_KEY not in stored.api_key_encrypted
