"""Shared fixtures and helpers for tests that run the live path against the simulator."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services, venue_factories
from apps.execution.models import ExchangeAccount, Fill, Order
from apps.execution.user_stream import AccountStream, StreamSettings, stream_for

from .factories import BTCUSDT, btcusdt

API_KEY, API_SECRET = "sim-key-0123456789", "sim-secret-0123456789abcdef"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    server = SimulatorServer(port=0, seed=7)
    server.start()
    server.add_symbol(BTCUSDT, price=Decimal("30000.00"))
    server.add_account(
        api_key=API_KEY, api_secret=API_SECRET, balances={"USDT": Decimal("1000000"), "BTC": Decimal("10")}
    )
    venue_factories._adapters.clear()
    with override_settings(SIMULATOR_BASE_URL=server.base_url, SIMULATOR_WS_API_URL=server.ws_api_url):
        yield server
    venue_factories._adapters.clear()
    server.stop()


@pytest.fixture
def account(sim: SimulatorServer, user) -> ExchangeAccount:
    btcusdt()
    return services.create_account(
        owner=user, name="sim", mode=ExchangeAccount.Mode.SIMULATED, api_key=API_KEY, api_secret=API_SECRET
    )


def submit(account: ExchangeAccount, cid: str, side: str, qty: str, price: str | None = None) -> Order:
    order = services.submit_order(
        account=account,
        symbol="BTCUSDT",
        side=side,
        order_type="LIMIT" if price else "MARKET",
        quantity=Decimal(qty),
        price=Decimal(price) if price else None,
        client_order_id=cid,
    ).order
    return services.send_order_to_exchange(order_id=order.pk)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class StreamThread:
    """Runs an AccountStream on its own event loop, as `run_user_stream` would."""

    def __init__(self, stream: AccountStream) -> None:
        self.stream = stream
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await self.stream.run(self.stop_event)

        try:
            self.loop.run_until_complete(main())
        finally:
            connection.close()

    def __enter__(self) -> StreamThread:
        self.thread.start()
        assert wait_for(lambda: self.stream.connections >= 1), "stream never connected"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def fast_stream(account: ExchangeAccount) -> StreamThread:
    return StreamThread(
        stream_for(account, StreamSettings(ping_interval=1, ping_timeout=1, backoff_base=0.05))
    )


def books_match_ledger(account: ExchangeAccount, sim: SimulatorServer) -> bool:
    ledger = {int(t["id"]) for t in sim.trades(API_KEY)}  # type: ignore[call-overload]
    ours = set(Fill.objects.filter(account=account).values_list("exchange_fill_id", flat=True))
    return ledger == ours and len(ledger) > 0
