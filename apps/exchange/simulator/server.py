"""`SimulatorServer`: the simulated venue on 127.0.0.1, in a daemon thread with its own loop.

Tests start one per test (it starts in milliseconds), point python-binance at `base_url` /
`ws_api_url`, and drive the market with `set_price`. The public methods may be called from
any thread; engine access is serialised by `SimulatedExchange`'s lock and user-data events
are handed to the loop thread with `call_soon_threadsafe`, in the order they happened.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType

from aiohttp import web

from apps.core.domain import SymbolFilters
from apps.exchange.matching import Balance, FeeSchedule

from . import wire
from .app import build_app
from .context import SimContext
from .faults import Faults
from .hub import Hub
from .ratelimit import RateLimiter
from .state import SimulatedExchange
from .ws import PATH as WS_PATH

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_START_TIMEOUT_S = 10.0


class SimulatorServer:
    """A Binance-Spot-compatible REST + WebSocket API server for tests and the demo."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        weight_limit_per_minute: int = 6000,
        orders_per_10s: int = 50,
        orders_per_day: int = 160_000,
        fees: FeeSchedule | None = None,
        slippage_bps: Decimal = Decimal(0),
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 60.0,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"The simulator binds to the loopback interface only, not {host!r}.")
        self.host = host
        self.port = port
        #: Server time = real time + this offset (clock-skew tests).
        self.clock_offset_ms = 0
        self.faults = Faults()
        self.exchange = SimulatedExchange(clock=self.now_ms, seed=seed, fees=fees, slippage_bps=slippage_bps)
        self._hub = Hub()
        self._context = SimContext(
            exchange=self.exchange,
            limiter=RateLimiter(
                weight_per_minute=weight_limit_per_minute,
                orders_per_10s=orders_per_10s,
                orders_per_day=orders_per_day,
            ),
            faults=self.faults,
            hub=self._hub,
            ping_interval_s=ping_interval_s,
            pong_timeout_s=pong_timeout_s,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.faults.on_drop(self._drop_websockets)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving in a daemon thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("The simulator is already running.")
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, name="binance-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("The simulator did not start in time.")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("The simulator failed to start.") from self._startup_error

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        future.result(timeout=_START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_START_TIMEOUT_S)
        self._thread = None
        self._loop = None
        self.exchange.set_sink(None)

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """python-binance's API_URL is this + "/api"."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_api_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}{WS_PATH}"

    # -- the market and accounts -------------------------------------------------------------

    def now_ms(self) -> int:
        """Server time: real time plus `clock_offset_ms`."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def add_symbol(
        self, filters: SymbolFilters, *, price: Decimal, liquidity_per_tick: Decimal | None = None
    ) -> None:
        self.exchange.add_symbol(filters, price=price, liquidity_per_tick=liquidity_per_tick)

    def add_account(self, *, api_key: str, api_secret: str, balances: Mapping[str, Decimal]) -> None:
        self.exchange.add_account(api_key=api_key, api_secret=api_secret, balances=balances)

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market: matches resting orders and emits their events."""
        self.exchange.set_price(symbol, price)

    def record_history(self, symbol: str, ticks: list[tuple[int, Decimal]]) -> None:
        """Replace the symbol's price history (for klines) with these (ms, price) ticks."""
        self.exchange.record_history(symbol, ticks)

    def set_liquidity(self, symbol: str, liquidity_per_tick: Decimal | None) -> None:
        self.exchange.set_liquidity(symbol, liquidity_per_tick)

    def trades(self, api_key: str) -> list[dict[str, object]]:
        """The simulator's own ledger of the account's trades (Decimal values), oldest first."""
        return [wire.ledger_trade(t) for t in self.exchange.trades(api_key)]

    def balances(self, api_key: str) -> dict[str, Balance]:
        return {b.asset: b for b in self.exchange.balances(api_key)}

    @property
    def websocket_count(self) -> int:
        """Open WebSocket API connections."""
        return len(self._hub)

    # -- internals --------------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # noqa: BLE001 - handed to start() in the caller's thread
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _startup(self) -> None:
        loop = asyncio.get_running_loop()

        def sink(account: str, event: dict[str, object]) -> None:
            loop.call_soon_threadsafe(self._hub.publish, account, event)

        self.exchange.set_sink(sink)
        self._runner = web.AppRunner(
            build_app(self._context), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site.port

    async def _shutdown(self) -> None:
        await self._hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _drop_websockets(self) -> None:
        loop = self._loop
        if loop is None:
            return
        closing = self._hub.close_all(message=b"Simulator dropped the connection")
        if threading.current_thread() is self._thread:
            loop.create_task(closing)
        else:
            asyncio.run_coroutine_threadsafe(closing, loop).result(timeout=_START_TIMEOUT_S)
