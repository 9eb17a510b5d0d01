"""The REST endpoints: what each one does, its request weight, whether it is signed.

Handlers are plain functions of (exchange, call) returning JSON-ready data; the dispatcher in
`app.py` does weights, faults, signatures and error rendering for all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apps.core.domain import OrderType

from . import params as p
from . import wire
from .context import SimContext
from .errors import BinanceError, invalid_value
from .klines import DEFAULT_LIMIT, MAX_LIMIT, check_interval

API = "/api/v3"


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the handlers see it: merged query/body params, the signer, the time."""

    params: Mapping[str, str]
    api_key: str
    now_ms: int


Handler = Callable[[SimContext, Call], object]
Weight = Callable[[Mapping[str, str]], int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    weight: Weight
    signed: bool = False
    new_order: bool = False


def fixed(weight: int) -> Weight:
    return lambda _params: weight


# -- public -------------------------------------------------------------------------------


def ping(_ctx: SimContext, _call: Call) -> object:
    return {}


def server_time(_ctx: SimContext, call: Call) -> object:
    return {"serverTime": call.now_ms}


def exchange_info(ctx: SimContext, call: Call) -> object:
    wanted = p.symbol_list(call.params)
    symbols = ctx.exchange.symbols()
    if wanted is not None:
        known = {f.symbol: f for f in symbols}
        if any(s not in known for s in wanted):
            raise invalid_value(-1121, "Invalid symbol.")
        symbols = [known[s] for s in wanted]
    return {
        "timezone": "UTC",
        "serverTime": call.now_ms,
        "rateLimits": ctx.limiter.exchange_info(),
        "exchangeFilters": [],
        "symbols": [wire.symbol_info(f) for f in symbols],
    }


def klines(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    interval = p.required(call.params, "interval")
    check_interval(interval)
    return exchange.klines(
        p.required(call.params, "symbol"),
        interval,
        start=p.optional_int(call.params, "startTime"),
        end=p.optional_int(call.params, "endTime"),
        limit=p.limit(call.params, default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
    )


def ticker_price(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    symbol = call.params.get("symbol")
    symbols = [symbol] if symbol else [f.symbol for f in exchange.symbols()]
    rows = []
    for name in symbols:
        price = exchange.price(name)
        rows.append({"symbol": name, "price": wire.dec(price) if price is not None else "0.00000000"})
    return rows[0] if symbol else rows


# -- orders ---------------------------------------------------------------------------------


def new_order(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    params = call.params
    order_type = p.order_type(params)
    response_type = params.get("newOrderRespType") or (
        "FULL" if order_type in (OrderType.MARKET, OrderType.LIMIT) else "ACK"
    )
    if response_type not in ("ACK", "RESULT", "FULL"):
        raise invalid_value(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
    placement = exchange.place_order(
        call.api_key,
        symbol=p.required(params, "symbol"),
        side=p.side(params),
        order_type=order_type,
        client_order_id=p.client_order_id(params, "newClientOrderId"),
        quantity=p.optional_decimal(params, "quantity"),
        price=p.optional_decimal(params, "price"),
        time_in_force=p.time_in_force(params),
        quote_order_qty=p.optional_decimal(params, "quoteOrderQty"),
    )
    order = placement.order
    if response_type == "ACK":
        return wire.order_ack(order, order.created_ms)
    if response_type == "RESULT":
        return wire.order_result(order, order.created_ms)
    return wire.order_full(order, order.created_ms, placement.trades)


def get_order(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    order_id, client_id = p.order_reference(call.params)
    order = exchange.get_order(
        call.api_key, symbol=p.required(call.params, "symbol"), order_id=order_id, client_order_id=client_id
    )
    return wire.order_query(order)


def cancel_order(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    order_id, client_id = p.order_reference(call.params)
    cancellation, cancel_id = exchange.cancel_order(
        call.api_key,
        symbol=p.required(call.params, "symbol"),
        order_id=order_id,
        client_order_id=client_id,
        cancel_client_order_id=p.client_order_id(call.params, "newClientOrderId"),
    )
    return wire.order_canceled(cancellation.order, cancel_id, call.now_ms)


def cancel_open_orders(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    canceled = exchange.cancel_all(call.api_key, symbol=p.required(call.params, "symbol"))
    return [wire.order_canceled(c.order, cancel_id, call.now_ms) for c, cancel_id in canceled]


def open_orders(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    return [
        wire.order_query(o) for o in exchange.open_orders(call.api_key, call.params.get("symbol") or None)
    ]


def all_orders(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    params = call.params
    orders = exchange.all_orders(call.api_key, p.required(params, "symbol"))
    from_id = p.optional_int(params, "orderId")
    start, end = p.optional_int(params, "startTime"), p.optional_int(params, "endTime")
    orders = [
        o
        for o in orders
        if (from_id is None or o.order_id >= from_id)
        and (start is None or o.created_ms >= start)
        and (end is None or o.created_ms <= end)
    ]
    limit = p.limit(params, default=500, maximum=1000)
    orders = orders[:limit] if from_id is not None or start is not None else orders[-limit:]
    return [wire.order_query(o) for o in orders]


def my_trades(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    params = call.params
    trades = exchange.trades(call.api_key, p.required(params, "symbol"))
    order_id, from_id = p.optional_int(params, "orderId"), p.optional_int(params, "fromId")
    start, end = p.optional_int(params, "startTime"), p.optional_int(params, "endTime")
    trades = [
        t
        for t in sorted(trades, key=lambda t: t.trade_id)
        if (order_id is None or t.order_id == order_id)
        and (from_id is None or t.trade_id >= from_id)
        and (start is None or t.time_ms >= start)
        and (end is None or t.time_ms <= end)
    ]
    limit = p.limit(params, default=500, maximum=1000)
    trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
    return [wire.my_trade(t) for t in trades]


def account(ctx: SimContext, call: Call) -> object:
    exchange = ctx.exchange
    balances, update_time = exchange.account_snapshot(call.api_key)
    if call.params.get("omitZeroBalances") == "true":
        balances = [b for b in balances if b.free or b.locked]
    return wire.account(balances, exchange.fees(call.api_key), update_time)


def gone(_ctx: SimContext, _call: Call) -> object:
    """listenKey endpoints were retired on 2026-02-20; Binance answers 410."""
    raise BinanceError(410, -1099, "This endpoint has been removed; use the WebSocket API user data stream.")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", f"{API}/ping", ping, fixed(1)),
    Endpoint("GET", f"{API}/time", server_time, fixed(1)),
    Endpoint("GET", f"{API}/exchangeInfo", exchange_info, fixed(20)),
    Endpoint("GET", f"{API}/klines", klines, fixed(2)),
    Endpoint("GET", f"{API}/ticker/price", ticker_price, lambda q: 2 if q.get("symbol") else 4),
    Endpoint("POST", f"{API}/order", new_order, fixed(1), signed=True, new_order=True),
    Endpoint("GET", f"{API}/order", get_order, fixed(4), signed=True),
    Endpoint("DELETE", f"{API}/order", cancel_order, fixed(1), signed=True),
    Endpoint("GET", f"{API}/openOrders", open_orders, lambda q: 6 if q.get("symbol") else 80, signed=True),
    Endpoint("DELETE", f"{API}/openOrders", cancel_open_orders, fixed(1), signed=True),
    Endpoint("GET", f"{API}/allOrders", all_orders, fixed(20), signed=True),
    Endpoint("GET", f"{API}/myTrades", my_trades, lambda q: 5 if q.get("orderId") else 20, signed=True),
    Endpoint("GET", f"{API}/account", account, fixed(20), signed=True),
    *(Endpoint(m, f"{API}/userDataStream", gone, fixed(2)) for m in ("POST", "PUT", "DELETE")),
)
