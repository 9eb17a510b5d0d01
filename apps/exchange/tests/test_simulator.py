"""The simulator against the REAL python-binance 1.0.37 clients, on 127.0.0.1 (no mocks).

REST: a `Client` subclass whose API_URL points at the simulator. User-data stream:
`AsyncClient` + `BinanceSocketManager(client).user_socket()`, whose WebSocket API URL
(WS_API_URL) points at the simulator. No database needed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import aiohttp
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.client import Client
from binance.exceptions import BinanceAPIException
from binance.ws.constants import WSListenerState

from apps.core.domain import SymbolFilters
from apps.exchange.simulator import SimulatorServer, klines, wire
from apps.exchange.simulator.feed import RandomWalk

D = Decimal
API_KEY = "sim-key"
API_SECRET = "sim-secret"
BTCUSDT = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.00001"),
    min_qty=D("0.00001"),
    max_qty=D("9000"),
    min_notional=D("5"),
)
pytestmark = pytest.mark.timeout(60)


def start_simulator(**options) -> SimulatorServer:
    server = SimulatorServer(seed=7, **options)
    server.add_symbol(BTCUSDT, price=D("60000.00"))
    server.add_account(api_key=API_KEY, api_secret=API_SECRET, balances={"USDT": D("100000"), "BTC": D("2")})
    server.start()
    return server


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    server = start_simulator()
    yield server
    server.stop()


def client_for(sim: SimulatorServer, *, key: str = API_KEY, secret: str = API_SECRET) -> Client:
    """The real sync client, pointed at the simulator by overriding its URL class attributes."""

    class SimClient(Client):
        API_URL = f"{sim.base_url}/api"
        WS_API_URL = sim.ws_api_url

    return SimClient(key, secret)  # pings the simulator on construction


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[Client]:
    c = client_for(sim)
    yield c
    c.close_connection()


def api_error(call, *args, **kwargs) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as info:
        call(*args, **kwargs)
    return info.value


def repeat(times: int, call) -> None:
    """Call until it raises (a window boundary on the way only delays the 429)."""
    for _ in range(times):
        call()


# -- public endpoints ------------------------------------------------------------------------


def test_ping_time_and_exchange_info(sim: SimulatorServer, client: Client) -> None:
    assert client.ping() == {}
    server_time = client.get_server_time()["serverTime"]
    assert abs(server_time - time.time_ns() // 1_000_000) < 5_000

    info = client.get_exchange_info()
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    [symbol] = info["symbols"]
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert set(filters) == {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL"}
    assert D(filters["PRICE_FILTER"]["tickSize"]) == BTCUSDT.tick_size
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert D(filters["NOTIONAL"]["minNotional"]) == BTCUSDT.min_notional
    assert client.get_symbol_info("BTCUSDT")["baseAsset"] == "BTC"
    assert client.response is not None
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) >= 1 + 1 + 20 + 20

    unknown = api_error(client._get, "exchangeInfo", data={"symbol": "NOPE"})
    assert (unknown.status_code, unknown.code, unknown.message) == (400, -1121, "Invalid symbol.")


def test_klines_are_synthesised_from_the_price_history(sim: SimulatorServer, client: Client) -> None:
    for price in ("60100.00", "59900.00", "60050.00"):
        sim.set_price("BTCUSDT", D(price))
    [candle] = client.get_klines(symbol="BTCUSDT", interval="1h")
    open_time, o, h, low, c, volume, close_time = candle[:7]
    assert (D(o), D(h), D(low), D(c), D(volume)) == (D("60000"), D("60100"), D("59900"), D("60050"), 0)
    assert close_time == open_time + 3_600_000 - 1

    seconds = client.get_klines(symbol="BTCUSDT", interval="1s", limit=5)
    assert 1 <= len(seconds) <= 5
    assert seconds[-1][4] == "60050.00000000"
    with pytest.raises(BinanceAPIException) as bad:
        client.get_klines(symbol="BTCUSDT", interval="7m")
    assert bad.value.code == -1120


# -- orders ------------------------------------------------------------------------------------


def test_limit_order_lifecycle_by_client_order_id(sim: SimulatorServer, client: Client) -> None:
    placed = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01000",
        price="59000.00",
        newClientOrderId="our-id-1",
    )
    assert (placed["status"], placed["clientOrderId"], placed["fills"]) == ("NEW", "our-id-1", [])
    assert "X-MBX-ORDER-COUNT-10S" in client.response.headers

    fetched = client.get_order(symbol="BTCUSDT", origClientOrderId="our-id-1")
    assert (fetched["orderId"], fetched["status"], fetched["price"]) == (
        placed["orderId"],
        "NEW",
        "59000.00000000",
    )
    assert fetched["isWorking"] is True
    assert [o["clientOrderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == ["our-id-1"]
    assert sim.balances(API_KEY)["USDT"].locked == D("590")

    canceled = client.cancel_order(symbol="BTCUSDT", origClientOrderId="our-id-1")
    assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", "our-id-1")
    assert client.get_order(symbol="BTCUSDT", orderId=placed["orderId"])["status"] == "CANCELED"
    assert client.get_open_orders() == []
    assert sim.balances(API_KEY)["USDT"].locked == 0

    again = api_error(client.cancel_order, symbol="BTCUSDT", origClientOrderId="our-id-1")
    assert (again.status_code, again.code, again.message) == (400, -2011, "Unknown order sent.")
    missing = api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="never-sent")
    assert (missing.code, missing.message) == (-2013, "Order does not exist.")
    assert [o["status"] for o in client.get_all_orders(symbol="BTCUSDT")] == ["CANCELED"]


def test_market_order_fills_and_shows_in_my_trades(sim: SimulatorServer, client: Client) -> None:
    placed = client.create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.05000", newClientOrderId="mkt-1"
    )
    assert placed["status"] == "FILLED"
    [fill] = placed["fills"]
    assert (fill["price"], fill["qty"], fill["commission"], fill["commissionAsset"]) == (
        "60000.00000000",
        "0.05000000",
        "0.00005000",
        "BTC",
    )
    assert D(placed["cummulativeQuoteQty"]) == D("3000")

    sim.set_price("BTCUSDT", D("61000.00"))
    client.create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.02000", newClientOrderId="mkt-2"
    )
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [(t["id"], t["isBuyer"], t["price"]) for t in trades] == [
        (1, True, "60000.00000000"),
        (2, False, "61000.00000000"),
    ]
    assert client.get_my_trades(symbol="BTCUSDT", fromId=2)[0]["id"] == 2
    assert len(client.get_my_trades(symbol="BTCUSDT", limit=1)) == 1

    ledger = sim.trades(API_KEY)
    assert [(t["id"], t["clientOrderId"], t["qty"]) for t in ledger] == [
        (1, "mkt-1", D("0.05")),
        (2, "mkt-2", D("0.02")),
    ]
    balances = {b["asset"]: D(b["free"]) for b in client.get_account()["balances"]}
    assert balances["BTC"] == D("2") + D("0.05") - D("0.00005") - D("0.02")
    assert balances["USDT"] == D("100000") - D("3000") + D("1220") - D("1.22")


def test_account_update_time_is_the_last_balance_change(sim: SimulatorServer, client: Client) -> None:
    """Like Binance, `updateTime` is when the balances last changed, on the trades' clock (so
    reconciliation can tell the trades in a snapshot from those after it), not the request time."""
    client.create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.05000", newClientOrderId="upd-1"
    )
    [trade] = client.get_my_trades(symbol="BTCUSDT")
    time.sleep(0.05)
    first = client.get_account()["updateTime"]
    time.sleep(0.05)
    assert client.get_account()["updateTime"] == first == trade["time"] < sim.now_ms() - 50


def test_resting_order_fills_partially_when_the_market_moves(sim: SimulatorServer, client: Client) -> None:
    sim.set_liquidity("BTCUSDT", D("0.004"))
    client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01000",
        price="59000.00",
        newClientOrderId="rest-1",
        newOrderRespType="ACK",
    )
    sim.set_price("BTCUSDT", D("58990.00"))
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="rest-1")
    assert (order["status"], order["executedQty"]) == ("PARTIALLY_FILLED", "0.00400000")
    sim.set_price("BTCUSDT", D("58980.00"))
    sim.set_price("BTCUSDT", D("58970.00"))
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="rest-1")
    assert (order["status"], order["cummulativeQuoteQty"]) == ("FILLED", "590.00000000")
    assert all(t["isMaker"] for t in client.get_my_trades(symbol="BTCUSDT"))


def test_order_refusals_use_binance_codes(sim: SimulatorServer, client: Client) -> None:
    def limit(**overrides) -> BinanceAPIException:
        params = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01000",
            "price": "59000.00",
            "newClientOrderId": "refused",
        }
        return api_error(client.create_order, **{**params, **overrides})

    assert limit(price="59000.005").message == "Filter failure: PRICE_FILTER"
    assert limit(quantity="0.010001").message == "Filter failure: LOT_SIZE"
    assert limit(quantity="0.00001").message == "Filter failure: NOTIONAL"
    assert limit(price="59000.000000001").code == -1111
    insufficient = limit(quantity="5")
    assert (insufficient.status_code, insufficient.code, insufficient.message) == (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    )
    assert limit(newClientOrderId="x" * 37).code == -1100
    assert limit(side="SIDEWAYS").code == -1117

    client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000.00",
        newClientOrderId="dup",
    )  # fmt: skip
    duplicate = limit(newClientOrderId="dup")
    assert (duplicate.code, duplicate.message) == (-2010, "Duplicate order sent.")


# -- signatures and time -----------------------------------------------------------------------


def test_bad_signature_and_unknown_key(sim: SimulatorServer) -> None:
    wrong_secret = client_for(sim, secret="not-the-secret")
    bad = api_error(wrong_secret.get_account)
    assert (bad.status_code, bad.code, bad.message) == (
        400,
        -1022,
        "Signature for this request is not valid.",
    )

    unknown = client_for(sim, key="who-is-this")
    error = api_error(unknown.get_open_orders)
    assert (error.status_code, error.code) == (401, -2015)


def test_timestamp_outside_the_recv_window_or_ahead_of_the_server(
    sim: SimulatorServer, client: Client
) -> None:
    sim.clock_offset_ms = 15_000  # our clock is 15 s behind the server's
    late = api_error(client.get_account)
    assert (late.code, late.message) == (-1021, "Timestamp for this request is outside of the recvWindow.")
    # python-binance sends recvWindow=REQUEST_RECVWINDOW (10000) on every signed call,
    # overriding a recvWindow passed as a parameter.
    client.REQUEST_RECVWINDOW = 60_000
    assert client.get_account()["accountType"] == "SPOT"
    client.REQUEST_RECVWINDOW = 10_000

    sim.clock_offset_ms = -2_000  # our clock is 2 s ahead
    ahead = api_error(client.get_account)
    assert ahead.code == -1021

    sim.clock_offset_ms = 0
    assert client.get_account()["canTrade"] is True


# -- rate limits and faults --------------------------------------------------------------------


def test_weight_limit_answers_429_with_retry_after() -> None:
    sim = start_simulator(weight_limit_per_minute=50)
    try:
        client = client_for(sim)
        error = api_error(repeat, 10, client.get_exchange_info)  # 20 weight each
        assert (error.status_code, error.code) == (429, -1003)
        assert 1 <= int(error.response.headers["Retry-After"]) <= 60
        assert int(error.response.headers["X-MBX-USED-WEIGHT-1M"]) > 50
    finally:
        sim.stop()


def test_order_count_limit_answers_429_with_retry_after() -> None:
    sim = start_simulator(orders_per_10s=2)
    try:
        client = client_for(sim)
        orders = iter(range(100))
        error = api_error(
            repeat,
            10,
            lambda: client.create_order(
                symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001",
                price="10000.00", newClientOrderId=f"o{next(orders)}",
            ),
        )  # fmt: skip
        assert (error.status_code, error.code) == (429, -1015)
        assert 1 <= int(error.response.headers["Retry-After"]) <= 10
        assert int(error.response.headers["X-MBX-ORDER-COUNT-10S"]) > 2
    finally:
        sim.stop()


def test_injected_failures(sim: SimulatorServer, client: Client) -> None:
    sim.faults.fail_next(1, status=503)
    assert api_error(client.get_server_time).status_code == 503
    assert "serverTime" in client.get_server_time()

    sim.faults.retry_after_seconds = 7
    sim.faults.fail_next(1, status=429)
    limited = api_error(client.get_server_time)
    assert (limited.status_code, limited.response.headers["Retry-After"]) == (429, "7")

    # -1007: the order went through but the answer was lost; the client must look it up.
    sim.faults.fail_next(1, status=-1007, target="/api/v3/order")
    assert client.get_server_time()["serverTime"] > 0  # other paths are not affected
    timeout = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.001",
        newClientOrderId="lost",
    )
    assert timeout.code == -1007
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="lost")["status"] == "FILLED"

    sim.faults.fail_next(1, status=500, target="/api/v3/order")
    assert (
        api_error(
            client.create_order,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.001",
            newClientOrderId="gone",
        ).status_code
        == 500
    )
    assert api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="gone").code == -2013


def test_listen_key_endpoints_are_gone(sim: SimulatorServer, client: Client) -> None:
    error = api_error(client._post, "userDataStream", False, data={})
    assert error.status_code == 410


# -- the user-data stream over the WebSocket API -----------------------------------------------


async def _async_client(sim: SimulatorServer, secret: str = API_SECRET) -> AsyncClient:
    class SimAsyncClient(AsyncClient):
        API_URL = f"{sim.base_url}/api"
        WS_API_URL = sim.ws_api_url

    client = await SimAsyncClient.create(API_KEY, secret)
    # close_connection() waits for the read loop's recv() timeout (10 s by default).
    client.ws_api.TIMEOUT = 0.5
    return client


async def _events(socket, count: int) -> list[dict]:
    return [await asyncio.wait_for(socket.recv(), 5) for _ in range(count)]


def test_user_socket_receives_execution_reports(sim: SimulatorServer, client: Client) -> None:
    async def scenario() -> tuple[list[dict], list[dict]]:
        async_client = await _async_client(sim)
        try:
            async with BinanceSocketManager(async_client).user_socket() as stream:
                await asyncio.to_thread(
                    client.create_order,
                    symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000", newClientOrderId="ws-1",
                )  # fmt: skip
                market = await _events(stream, 3)
                await asyncio.to_thread(
                    client.create_order,
                    symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01000",
                    price="60500.00", newClientOrderId="ws-2",
                )  # fmt: skip
                await asyncio.to_thread(sim.set_price, "BTCUSDT", D("60600.00"))
                resting = await _events(stream, 4)
                return market, resting
        finally:
            await async_client.close_connection()

    market, resting = asyncio.run(scenario())
    new, trade, position = market
    assert (new["e"], new["x"], new["X"], new["c"], new["t"], new["N"]) == (
        "executionReport", "NEW", "NEW", "ws-1", -1, None
    )  # fmt: skip
    assert (trade["x"], trade["X"], trade["t"], trade["m"]) == ("TRADE", "FILLED", 1, False)
    assert (trade["l"], trade["L"], trade["z"], trade["Z"]) == (
        "0.01000000", "60000.00000000", "0.01000000", "600.00000000"
    )  # fmt: skip
    assert (trade["n"], trade["N"], trade["Y"]) == ("0.00001000", "BTC", "600.00000000")
    assert position["e"] == "outboundAccountPosition"
    assert {b["a"] for b in position["B"]} == {"BTC", "USDT"}

    assert [e.get("x", e["e"]) for e in resting] == [
        "NEW",
        "outboundAccountPosition",
        "TRADE",
        "outboundAccountPosition",
    ]
    fill = resting[2]
    assert (fill["c"], fill["L"], fill["m"], fill["N"]) == ("ws-2", "60500.00000000", True, "USDT")


def test_user_socket_subscription_with_a_bad_signature_raises(sim: SimulatorServer) -> None:
    async def scenario() -> BinanceAPIException:
        async_client = await _async_client(sim, secret="wrong")
        try:
            with pytest.raises(BinanceAPIException) as info:
                async with BinanceSocketManager(async_client).user_socket():
                    pass
            return info.value
        finally:
            await async_client.close_connection()

    error = asyncio.run(scenario())
    assert (error.status_code, error.code) == (400, -1022)


def test_dropped_websocket_reaches_the_user_socket_as_an_error_message(sim: SimulatorServer) -> None:
    async def scenario() -> dict:
        async_client = await _async_client(sim)
        try:
            stream = BinanceSocketManager(async_client).user_socket()
            await stream.__aenter__()  # leaving with __aexit__ would unsubscribe on a dead connection
            dropped = async_client.ws_api.ws
            await asyncio.to_thread(sim.faults.drop_websockets)
            message = await asyncio.wait_for(stream.recv(), 5)
            # python-binance reconnects the socket by itself (without subscribing again); closing
            # the client while it is still reconnecting never returns, so wait for it first.
            ws_api = async_client.ws_api
            for _ in range(100):
                if ws_api.ws not in (None, dropped) and ws_api.ws_state == WSListenerState.STREAMING:
                    break
                await asyncio.sleep(0.05)
            return message
        finally:
            await async_client.close_connection()

    message = asyncio.run(scenario())
    assert message["e"] == "error"
    assert message["type"] in {"ConnectionClosedOK", "ConnectionClosedError", "BinanceWebsocketClosed"}


def _market_order(client: Client, cid: str) -> None:
    client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId=cid)


def test_event_faults_duplicate_reorder_and_delay(sim: SimulatorServer, client: Client) -> None:
    async def scenario() -> tuple[list[str], list[str], float]:
        async_client = await _async_client(sim)
        try:
            async with BinanceSocketManager(async_client).user_socket() as stream:
                sim.faults.duplicate_events = True
                await asyncio.to_thread(_market_order, client, "dup")
                duplicated = [e.get("x", e["e"]) for e in await _events(stream, 6)]
                sim.faults.duplicate_events = False
                sim.faults.reorder_events = True
                await asyncio.to_thread(_market_order, client, "reo")
                reordered = [e.get("x", e["e"]) for e in await _events(stream, 3)]
                sim.faults.reorder_events = False
                sim.faults.delay_events_ms = 300
                started = time.monotonic()
                await asyncio.to_thread(_market_order, client, "late")
                await _events(stream, 3)
                return duplicated, reordered, time.monotonic() - started
        finally:
            await async_client.close_connection()

    duplicated, reordered, waited = asyncio.run(scenario())
    assert duplicated == [
        "NEW",
        "NEW",
        "TRADE",
        "TRADE",
        "outboundAccountPosition",
        "outboundAccountPosition",
    ]
    assert reordered == ["TRADE", "NEW", "outboundAccountPosition"]
    assert waited >= 0.3


# -- the WebSocket API itself (raw client) --------------------------------------------------------


def test_ws_api_methods_and_server_pings() -> None:
    sim = start_simulator(ping_interval_s=0.1, pong_timeout_s=0.35)

    async def scenario() -> tuple[list[dict], bool, bool]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(sim.ws_api_url, autoping=False) as ws,
        ):
            answers = []
            for request_id, method in enumerate(["ping", "time", "session.status", "no.such.method"]):
                await ws.send_str(json.dumps({"id": request_id, "method": method, "params": {}}))
                while True:
                    message = await ws.receive(timeout=2)
                    if message.type == aiohttp.WSMsgType.TEXT:
                        answers.append(json.loads(message.data))
                        break
            pinged = False
            while not ws.closed:  # we never pong: the server must give up on us
                message = await ws.receive(timeout=3)
                pinged = pinged or message.type == aiohttp.WSMsgType.PING
            return answers, pinged, ws.closed

    try:
        answers, pinged, closed = asyncio.run(scenario())
    finally:
        sim.stop()
    ping, server_time, status, unknown = answers
    assert (ping["id"], ping["status"], ping["result"]) == (0, 200, {})
    assert ping["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
    assert server_time["result"]["serverTime"] > 0
    assert status["result"]["userDataStream"] is False
    assert (unknown["status"], unknown["error"]["code"]) == (400, -1000)
    assert pinged
    assert closed


def test_subscription_failures_injected_on_the_websocket_api(sim: SimulatorServer) -> None:
    sim.faults.fail_next(1, status=503, target="userDataStream.subscribe.signature")

    async def scenario() -> BinanceAPIException:
        async_client = await _async_client(sim)
        try:
            with pytest.raises(BinanceAPIException) as info:
                async with BinanceSocketManager(async_client).user_socket():
                    pass
            return info.value
        finally:
            await async_client.close_connection()

    error = asyncio.run(scenario())
    assert (error.status_code, error.code) == (503, -1000)


# -- building blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0.001"), "0.00100000"),
        (D("590.0000000000"), "590.00000000"),
        (D("1E+3"), "1000.00000000"),
        (D("0.0000000001"), "0.0000000001"),
    ],
)
def test_decimals_are_written_like_binance_and_never_rounded(value: Decimal, text: str) -> None:
    assert wire.dec(value) == text


def test_kline_buckets_align_like_binance() -> None:
    monday = 1_700_438_400_000  # 2023-11-20 00:00 UTC, a Monday
    assert klines.bucket_open(monday + 3 * 86_400_000 + 5, "1w") == monday
    assert klines.bucket_open(monday + 61_000, "1m") == monday + 60_000
    november = 1_698_796_800_000  # 2023-11-01 00:00 UTC
    assert klines.bucket_open(monday, "1M") == november
    assert klines.bucket_after(november, "1M") == 1_701_388_800_000  # 2023-12-01


def test_random_walk_is_seeded_and_stays_on_the_tick_grid() -> None:
    def path(seed: int) -> list[Decimal]:
        walk = RandomWalk(start=D("100.00"), tick=D("0.01"), seed=seed)
        return [walk.step() for _ in range(200)]

    assert path(3) == path(3)
    assert path(3) != path(4)
    assert all(p % D("0.01") == 0 and p > 0 for p in path(3))
