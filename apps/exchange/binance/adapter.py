"""`BinanceSpot`: the ExchangeAdapter for Binance Spot (live, testnet, or anything speaking its
wire format, such as the project's simulator), built on python-binance's sync `Client`.

What python-binance does not do and this class does:
- always sends our own `newClientOrderId` (python-binance would invent a random one);
- keeps a server-time offset (the sync client keeps none), resynchronising once on -1021;
  a second -1021 is a `ClockSkew` error, never a retry loop;
- spends a request-weight budget fed by `X-MBX-USED-WEIGHT-1M` and honours `Retry-After`;
- keeps new orders under the account's ORDERS limits (learnt from exchangeInfo, fed by
  `X-MBX-ORDER-COUNT-10S` / `-1D`), so a burst waits for the next window instead of a 429;
- parses every number from its string into Decimal and checks orders against the venue's
  cached filters with the project's one validator before sending;
- asks a new order's `SendGuard` right before the request (after the budgets' waits and any
  resync) and signs it with a recvWindow that ends by the guard's deadline, so the venue
  refuses it if it arrives after the sender's claim on the order has ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from binance.client import Client

from apps.core.decimals import parse_decimal
from apps.core.domain import OrderStatus, OrderType, Side, SymbolFilters, conform_to_filters
from apps.core.errors import ValidationFailed
from apps.exchange import metrics as exchange_metrics
from apps.exchange.adapter import SendGuard
from apps.exchange.domain import Kline, OrderRequest, VenueBalance, VenueBalances, VenueOrder, VenueTrade
from apps.exchange.errors import InvalidOrder, RateLimited, VenueError

from .errors import TOO_MANY_ORDERS, ClockSkew, translate
from .ratelimit import OrderCountBudget, WeightBudget

WEIGHTS = {
    "order_post": 1,
    "order_delete": 1,
    "order_get": 4,
    "open_orders_symbol": 6,
    "open_orders_all": 80,
    "my_trades": 20,
    "exchange_info": 20,
    "klines": 2,
    "account": 20,
    "time": 1,
}
FILTERS_TTL_SECONDS = 600.0
TIME_SYNC_SECONDS = 600.0

_STATUS = {
    "NEW": OrderStatus.SUBMITTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.CANCEL_REQUESTED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


def venue_status(binance_status: str) -> OrderStatus:
    return _STATUS[binance_status]


def _ms(value: int | str) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _d(value: Any, field: str) -> Decimal:
    return parse_decimal(str(value), field=field)


def _wire(value: Decimal) -> str:
    """Decimal as Binance wants it: plain notation, no exponent, no trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Client(Client):
    """python-binance's sync `Client`, whose recvWindow (`REQUEST_RECVWINDOW`, read when a
    signed request is built) one request can narrow on its own thread (`narrowed_window`)."""

    def __init__(self, *args: Any, recv_window_ms: int, **kwargs: Any) -> None:
        self._default_window_ms = recv_window_ms
        self._narrowed = threading.local()
        super().__init__(*args, **kwargs)

    @property
    def REQUEST_RECVWINDOW(self) -> int:  # noqa: N802 - python-binance's name
        narrowed: int | None = getattr(self._narrowed, "window_ms", None)
        return self._default_window_ms if narrowed is None else narrowed

    @REQUEST_RECVWINDOW.setter
    def REQUEST_RECVWINDOW(self, value: int) -> None:  # noqa: N802 - python-binance's name
        self._default_window_ms = value

    def narrow_window(self, window_ms: int | None) -> None:
        """This thread's next signed requests carry `window_ms` (None: the default again)."""
        self._narrowed.window_ms = window_ms


class BinanceSpot:
    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        base_url: str | None = None,
        ws_api_url: str | None = None,
        testnet: bool = False,
        budget: WeightBudget | None = None,
        recv_window_ms: int = 5000,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.client = _Client(
            api_key,
            api_secret,
            testnet=testnet,
            ping=False,
            requests_params={"timeout": timeout_seconds},
            recv_window_ms=recv_window_ms,
        )
        if base_url:
            self.client.API_URL = base_url.rstrip("/") + "/api"
            self.client.API_TESTNET_URL = self.client.API_URL
        if ws_api_url:
            self.client.ws_api._url = ws_api_url
        self.budget = budget or WeightBudget()
        #: New orders of this account (one adapter per account per process).
        self.order_budget = OrderCountBudget()
        self._lock = threading.Lock()
        self._filters: dict[str, tuple[float, SymbolFilters]] = {}
        self._synced_at = 0.0
        #: Requests sent and weight spent by this adapter (reconciliation records its share).
        self.requests_sent = 0
        self.weight_spent = 0

    # --- time -----------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measure the server-time offset (ms) and use it for every signed request."""
        started = time.time()
        server = self._call("time", self.client.get_server_time, signed=False)
        finished = time.time()
        offset = int(server["serverTime"]) - int((started + finished) / 2 * 1000)
        self.client.timestamp_offset = offset
        self._synced_at = finished
        return offset

    # --- plumbing ---------------------------------------------------------------------------

    def _call(
        self,
        weight_key: str,
        fn: Callable[..., Any],
        *,
        signed: bool = True,
        guard: SendGuard | None = None,
        **params: Any,
    ) -> Any:
        if signed and time.time() - self._synced_at > TIME_SYNC_SECONDS:
            self.sync_time()
        try:
            return self._send(weight_key, fn, guard, **params)
        except ClockSkew:
            if not signed:
                raise
            self.sync_time()
            return self._send(weight_key, fn, guard, **params)  # a second -1021 propagates as ClockSkew

    def _send(self, weight_key: str, fn: Callable[..., Any], guard: SendGuard | None, **params: Any) -> Any:
        places_order = weight_key == "order_post"
        if places_order:
            self.order_budget.acquire()
        self.budget.acquire(WEIGHTS[weight_key])
        if guard is not None:  # after the waits above: the last moment before the request
            self.client.narrow_window(guard.clearance_ms(longest_ms=self.client.REQUEST_RECVWINDOW))
        self.requests_sent += 1
        self.weight_spent += WEIGHTS[weight_key]
        try:
            return fn(**params)
        except Exception as exc:  # translated below; unknown types are re-raised by translate()
            error = translate(exc)
            if isinstance(error, RateLimited) and error.venue_code == TOO_MANY_ORDERS:
                self.order_budget.block_for(error.retry_after)  # orders only: reads may go on
            elif isinstance(error, RateLimited):
                self.budget.block_for(error.retry_after)
            raise error from exc
        finally:
            if guard is not None:
                self.client.narrow_window(None)
            response = self.client.response
            if response is not None:
                self.budget.observe(response.headers)
                if places_order:
                    self.order_budget.observe(response.headers)
            exchange_metrics.observe_response(self.client.API_URL, getattr(response, "headers", None))

    # --- commands ---------------------------------------------------------------------------

    def place_order(self, request: OrderRequest, *, guard: SendGuard | None = None) -> VenueOrder:
        self._check_filters(request)
        params: dict[str, Any] = {
            "symbol": request.symbol,
            "side": str(request.side),
            "type": str(request.order_type),
            "quantity": _wire(request.quantity),
            "newClientOrderId": request.client_order_id,
            "newOrderRespType": "RESULT",
        }
        if request.price is not None:
            params["price"] = _wire(request.price)
        if request.time_in_force:
            params["timeInForce"] = str(request.time_in_force)
        return self._order_of(self._call("order_post", self.client.create_order, guard=guard, **params))

    def cancel_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        data = self._call(
            "order_delete", self.client.cancel_order, symbol=symbol, origClientOrderId=client_order_id
        )
        return self._order_of(data)

    def get_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        data = self._call(
            "order_get", self.client.get_order, symbol=symbol, origClientOrderId=client_order_id
        )
        return self._order_of(data)

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]:
        if symbol:
            rows = self._call("open_orders_symbol", self.client.get_open_orders, symbol=symbol)
        else:
            rows = self._call("open_orders_all", self.client.get_open_orders)
        return [self._order_of(row) for row in rows]

    def trades_since(
        self, *, symbol: str, from_trade_id: int, limit: int = 1000, start: datetime | None = None
    ) -> list[VenueTrade]:
        """Trades with id >= from_trade_id; with `start`, the first trades at or after it (≤ 24 h)."""
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if start is not None:
            params["startTime"] = int(start.timestamp() * 1000)
            params["endTime"] = params["startTime"] + 24 * 3600 * 1000 - 1
        else:
            params["fromId"] = from_trade_id
        rows = self._call("my_trades", self.client.get_my_trades, **params)
        return [self._trade_of(row) for row in rows]

    def balances(self) -> VenueBalances:
        """Stamped with the account's `updateTime` (its last balance change, on the clock of
        the trades' times). Without it, the local time taken before the request: the
        snapshot holds at least everything done before then."""
        requested_at = datetime.now(tz=UTC)
        data = self._call("account", self.client.get_account, omitZeroBalances="true")
        parsed = [
            VenueBalance(asset=b["asset"], free=_d(b["free"], "free"), locked=_d(b["locked"], "locked"))
            for b in data["balances"]
        ]
        update_time = data.get("updateTime")
        return VenueBalances(
            balances=[b for b in parsed if b.free or b.locked],
            as_of=_ms(update_time) if update_time else requested_at,
        )

    def symbol_filters(self, *, symbol: str) -> SymbolFilters:
        with self._lock:
            cached = self._filters.get(symbol)
        if cached and time.time() - cached[0] < FILTERS_TTL_SECONDS:
            return cached[1]
        info = self._call("exchange_info", self.client.get_exchange_info, signed=False)
        self.order_budget.learn_limits(info.get("rateLimits", []))
        now = time.time()
        parsed = {row["symbol"]: parse_symbol_filters(row) for row in info["symbols"]}
        with self._lock:
            self._filters = {name: (now, filters) for name, filters in parsed.items()}
        if symbol not in parsed:
            raise InvalidOrder(f"Invalid symbol {symbol}.", venue_code=-1121)
        return parsed[symbol]

    def klines(
        self,
        *,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[Kline]:
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": limit}
        if start:
            params["startTime"] = int(start.timestamp() * 1000)
        if end:
            params["endTime"] = int(end.timestamp() * 1000)
        rows = self._call("klines", self.client.get_klines, signed=False, **params)
        return [
            Kline(
                open_time=_ms(r[0]),
                open=_d(r[1], "open"),
                high=_d(r[2], "high"),
                low=_d(r[3], "low"),
                close=_d(r[4], "close"),
                volume=_d(r[5], "volume"),
                close_time=_ms(r[6]),
            )
            for r in rows
        ]

    # --- parsing ------------------------------------------------------------------------------

    def _check_filters(self, request: OrderRequest) -> None:
        filters = self.symbol_filters(symbol=request.symbol)
        try:
            conform_to_filters(filters, side=request.side, quantity=request.quantity, price=request.price)
        except ValidationFailed as exc:
            raise InvalidOrder(f"Filter failure (checked locally): {exc.message}", venue_code=-1013) from exc

    @staticmethod
    def _order_of(data: dict[str, Any]) -> VenueOrder:
        return VenueOrder(
            symbol=data["symbol"],
            client_order_id=data.get("clientOrderId") or data.get("origClientOrderId", ""),
            exchange_order_id=str(data["orderId"]),
            status=venue_status(data["status"]),
            executed_quantity=_d(data.get("executedQty", "0"), "executedQty"),
            cumulative_quote=_d(data.get("cummulativeQuoteQty", "0"), "cummulativeQuoteQty"),
            updated_at=_ms(data["updateTime"]) if data.get("updateTime") else None,
            side=Side(data["side"]) if data.get("side") else None,
            order_type=OrderType(data["type"]) if data.get("type") in OrderType.values else None,
            quantity=_d(data["origQty"], "origQty") if data.get("origQty") else None,
            price=_d(data["price"], "price") if data.get("price") not in (None, "0", "0.00000000") else None,
        )

    @staticmethod
    def _trade_of(row: dict[str, Any]) -> VenueTrade:
        return VenueTrade(
            symbol=row["symbol"],
            trade_id=int(row["id"]),
            exchange_order_id=str(row["orderId"]),
            client_order_id=row.get("clientOrderId", ""),
            side=Side.BUY if row["isBuyer"] else Side.SELL,
            price=_d(row["price"], "price"),
            quantity=_d(row["qty"], "qty"),
            quote_quantity=_d(row["quoteQty"], "quoteQty"),
            commission=_d(row["commission"], "commission"),
            commission_asset=row.get("commissionAsset") or "",
            is_maker=bool(row["isMaker"]),
            executed_at=_ms(row["time"]),
        )


def parse_symbol_filters(row: dict[str, Any]) -> SymbolFilters:
    """exchangeInfo's symbol entry → SymbolFilters (strings straight into Decimal)."""
    by_type = {f["filterType"]: f for f in row.get("filters", [])}
    price = by_type.get("PRICE_FILTER", {})
    lot = by_type.get("LOT_SIZE", {})
    notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL") or {}

    def d(source: dict[str, Any], key: str) -> Decimal:
        return _d(source.get(key, "0"), key)

    return SymbolFilters(
        symbol=row["symbol"],
        base_asset=row["baseAsset"],
        quote_asset=row["quoteAsset"],
        tick_size=d(price, "tickSize"),
        step_size=d(lot, "stepSize"),
        min_qty=d(lot, "minQty"),
        max_qty=d(lot, "maxQty"),
        min_price=d(price, "minPrice"),
        max_price=d(price, "maxPrice"),
        min_notional=d(notional, "minNotional"),
        max_notional=d(notional, "maxNotional"),
    )


__all__ = ["BinanceSpot", "ClockSkew", "VenueError", "parse_symbol_filters", "venue_status"]
