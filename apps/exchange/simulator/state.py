"""The simulated venue's state: the matching engine, credentials, price history, event fan-out.

REST handlers and WebSocket sessions run on the server's event-loop thread while tests move
prices from their own thread, so every call into the engine holds one lock. Events are
handed to the sink (the WebSocket hub) while that lock is held, so subscribers see them in
exactly the order the engine produced them.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

from apps.core.domain import OrderType, Side, SymbolFilters, TimeInForce
from apps.exchange.matching import (
    Balance,
    Cancellation,
    EngineError,
    Event,
    FeeSchedule,
    MatchingEngine,
    Order,
    Placement,
    Trade,
)

from . import wire
from .auth import Authenticator
from .errors import BinanceError
from .klines import PriceHistory

EventSink = Callable[[str, dict[str, object]], None]
T = TypeVar("T")
_ID_ALPHABET = string.ascii_letters + string.digits


class SimulatedExchange:
    def __init__(
        self,
        *,
        clock: Callable[[], int],
        seed: int = 0,
        fees: FeeSchedule | None = None,
        slippage_bps: Decimal = Decimal(0),
    ) -> None:
        self.clock = clock
        self.auth = Authenticator()
        self._engine = MatchingEngine(fees=fees, slippage_bps=slippage_bps, now_ms=clock())
        self._history: dict[str, PriceHistory] = {}
        self._lock = threading.RLock()
        # Deterministic stand-in for the random ids Binance invents; not for security.
        self._rng = random.Random(seed)  # noqa: S311
        self._sink: EventSink | None = None

    def set_sink(self, sink: EventSink | None) -> None:
        self._sink = sink

    # -- set-up and market ----------------------------------------------------------------

    def add_symbol(
        self, filters: SymbolFilters, *, price: Decimal, liquidity_per_tick: Decimal | None
    ) -> None:
        with self._lock:
            self._engine.add_symbol(filters, price=price, liquidity_per_tick=liquidity_per_tick)
            history = self._history.setdefault(filters.symbol, PriceHistory())
            history.record(self.clock(), price)

    def record_history(self, symbol: str, ticks: list[tuple[int, Decimal]]) -> None:
        """Backfill past ticks (for klines) without matching anything; before any live tick."""
        with self._lock:
            self._engine.filters(symbol)
            history = PriceHistory()
            for ts, price in sorted(ticks, key=lambda tick: tick[0]):
                history.record(ts, price)
            self._history[symbol] = history

    def add_account(self, *, api_key: str, api_secret: str, balances: Mapping[str, Decimal]) -> None:
        with self._lock:
            self.auth.register(api_key, api_secret)
            self._engine.open_account(api_key, balances)

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            now = self.clock()
            events = self._engine.on_price(symbol, price, now_ms=now)
            self._history[symbol].record(now, price)
            self._publish(events)

    def set_liquidity(self, symbol: str, liquidity_per_tick: Decimal | None) -> None:
        with self._lock:
            self._engine.set_liquidity(symbol, liquidity_per_tick)

    # -- commands ---------------------------------------------------------------------------

    def place_order(
        self,
        api_key: str,
        *,
        symbol: str,
        side: Side,
        order_type: OrderType,
        client_order_id: str | None,
        quantity: Decimal | None,
        price: Decimal | None,
        time_in_force: TimeInForce | None,
        quote_order_qty: Decimal | None,
    ) -> Placement:
        with self._lock:
            placement = self._engine_call(
                lambda: self._engine.place_order(
                    api_key,
                    symbol=symbol,
                    side=side,
                    order_type=order_type,
                    client_order_id=client_order_id or self.new_client_id(),
                    quantity=quantity,
                    price=price,
                    time_in_force=time_in_force,
                    quote_order_qty=quote_order_qty,
                    now_ms=self.clock(),
                )
            )
            self._publish(placement.events)
            return placement

    def cancel_order(
        self,
        api_key: str,
        *,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        cancel_client_order_id: str | None,
    ) -> tuple[Cancellation, str]:
        """Cancel; returns the cancellation and the cancel request's client id."""
        with self._lock:
            cancel_id = cancel_client_order_id or self.new_client_id()
            cancellation = self._engine_call(
                lambda: self._engine.cancel_order(
                    api_key,
                    symbol=symbol,
                    order_id=order_id,
                    client_order_id=client_order_id,
                    cancel_client_order_id=cancel_id,
                    now_ms=self.clock(),
                )
            )
            self._publish(cancellation.events)
            return cancellation, cancel_id

    def cancel_all(self, api_key: str, *, symbol: str) -> list[tuple[Cancellation, str]]:
        with self._lock:
            self._engine_call(lambda: self._engine.filters(symbol))
            return [
                self.cancel_order(
                    api_key,
                    symbol=symbol,
                    order_id=o.order_id,
                    client_order_id=None,
                    cancel_client_order_id=None,
                )
                for o in self._engine.open_orders(api_key, symbol)
            ]

    # -- reads ------------------------------------------------------------------------------

    def symbols(self) -> list[SymbolFilters]:
        with self._lock:
            return self._engine.symbols()

    def filters(self, symbol: str) -> SymbolFilters:
        with self._lock:
            return self._engine_call(lambda: self._engine.filters(symbol))

    def price(self, symbol: str) -> Decimal | None:
        with self._lock:
            return self._engine_call(lambda: self._engine.price(symbol))

    def get_order(
        self, api_key: str, *, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order:
        with self._lock:
            return self._engine_call(
                lambda: self._engine.get_order(
                    api_key, symbol=symbol, order_id=order_id, client_order_id=client_order_id
                )
            )

    def open_orders(self, api_key: str, symbol: str | None) -> list[Order]:
        with self._lock:
            if symbol is not None:
                self._engine_call(lambda: self._engine.filters(symbol))
            return self._engine.open_orders(api_key, symbol)

    def all_orders(self, api_key: str, symbol: str) -> list[Order]:
        with self._lock:
            self._engine_call(lambda: self._engine.filters(symbol))
            return self._engine.orders(api_key, symbol)

    def trades(self, api_key: str, symbol: str | None = None) -> list[Trade]:
        with self._lock:
            if symbol is not None:
                self._engine_call(lambda: self._engine.filters(symbol))
            return self._engine.trades(api_key, symbol)

    def balances(self, api_key: str) -> list[Balance]:
        with self._lock:
            return list(self._engine.balances(api_key).values())

    def account_snapshot(self, api_key: str) -> tuple[list[Balance], int]:
        """The balances and the time (ms) they last changed, read under one lock: a trade
        in between would otherwise be in the balances but after the time, or the reverse."""
        with self._lock:
            return list(self._engine.balances(api_key).values()), self._engine.balances_updated_ms(api_key)

    def fees(self, api_key: str) -> FeeSchedule:
        with self._lock:
            return self._engine.fees(api_key)

    def klines(
        self, symbol: str, interval: str, *, start: int | None, end: int | None, limit: int
    ) -> list[list[object]]:
        with self._lock:
            self._engine_call(lambda: self._engine.filters(symbol))
            return self._history[symbol].candles(
                interval,
                start=start,
                end=end,
                limit=limit,
                now_ms=self.clock(),
                trades=self._engine.symbol_trades(symbol),
            )

    def new_client_id(self) -> str:
        """A 22-character id like the ones Binance invents, from the seeded generator."""
        with self._lock:
            return "".join(self._rng.choice(_ID_ALPHABET) for _ in range(22))

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _engine_call(call: Callable[[], T]) -> T:
        try:
            return call()
        except EngineError as exc:
            raise BinanceError.from_engine(exc) from exc

    def _publish(self, events: tuple[Event, ...] | list[Event]) -> None:
        if self._sink is None:
            return
        for event in events:
            self._sink(event.account, wire.user_event(event))
