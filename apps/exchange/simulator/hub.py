"""WebSocket API connections and the fan-out of user-data events to their subscriptions.

Each connection has ONE outgoing queue for responses and events alike, drained by one task,
so a subscription's response always reaches the client before the subscription's first
event (python-binance routes events by subscriptionId only once it has the response). The
event faults (delay, duplicate, reorder) are applied by that task; responses pass untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from .errors import BinanceError
from .faults import Faults

logger = logging.getLogger(__name__)
#: How long the reorder fault waits for a second event to swap with the first.
REORDER_WINDOW_S = 0.05


@dataclass(frozen=True, slots=True)
class _Outgoing:
    text: str
    is_event: bool
    queued_at: float


@dataclass(eq=False)
class Session:
    """One WebSocket API connection: its subscriptions and its outgoing pipe."""

    ws: web.WebSocketResponse
    faults: Faults
    remote: str
    connected_ms: int
    subscriptions: dict[int, str] = field(default_factory=dict)
    last_pong: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    _next_subscription: int = 0
    _queue: asyncio.Queue[_Outgoing] = field(default_factory=asyncio.Queue)

    def subscribe(self, account: str) -> int:
        if account in self.subscriptions.values():
            raise BinanceError(400, -2035, "User Data Stream subscription already active.")
        subscription_id = self._next_subscription
        self._next_subscription += 1
        self.subscriptions[subscription_id] = account
        return subscription_id

    def unsubscribe(self, subscription_id: int | None) -> None:
        """Close one subscription (if it exists) or, without an id, all of them."""
        if subscription_id is None:
            self.subscriptions.clear()
        else:
            self.subscriptions.pop(subscription_id, None)

    def respond(self, payload: dict[str, object]) -> None:
        self._put(json.dumps(payload), is_event=False)

    def deliver(self, account: str, event: dict[str, object]) -> None:
        for subscription_id, subscribed in self.subscriptions.items():
            if subscribed == account:
                self._put(json.dumps({"subscriptionId": subscription_id, "event": event}), is_event=True)

    def pong(self) -> None:
        self.last_pong = asyncio.get_running_loop().time()

    def _put(self, text: str, *, is_event: bool) -> None:
        self._queue.put_nowait(_Outgoing(text, is_event, asyncio.get_running_loop().time()))

    async def run_sender(self) -> None:
        while not self.ws.closed:
            item = await self._queue.get()
            if item.is_event and self.faults.reorder_events:
                second = await self._next_within(REORDER_WINDOW_S)
                if second is not None and second.is_event:
                    await self._send(second)
                    await self._send(item)
                    continue
                await self._send(item)
                if second is not None:
                    await self._send(second)
                continue
            await self._send(item)

    async def run_pinger(self, interval_s: float, pong_timeout_s: float) -> None:
        """Ping like Binance does; drop a client that has not answered within the timeout."""
        loop = asyncio.get_running_loop()
        while not self.ws.closed:
            await asyncio.sleep(interval_s)
            if loop.time() - self.last_pong > pong_timeout_s:
                logger.info("Closing WebSocket API connection from %s: no pong", self.remote)
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Pong timeout")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.ping()

    async def _next_within(self, seconds: float) -> _Outgoing | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout=seconds)
        except TimeoutError:
            return None

    async def _send(self, item: _Outgoing) -> None:
        if item.is_event and self.faults.delay_events_ms > 0:
            due = item.queued_at + self.faults.delay_events_ms / 1000
            await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
        copies = 2 if item.is_event and self.faults.duplicate_events else 1
        for _ in range(copies):
            if self.ws.closed:
                return
            await self.ws.send_str(item.text)


class Hub:
    """All open WebSocket API sessions (used on the server's event-loop thread only)."""

    def __init__(self) -> None:
        self._sessions: set[Session] = set()

    def add(self, session: Session) -> None:
        self._sessions.add(session)

    def remove(self, session: Session) -> None:
        self._sessions.discard(session)

    def __len__(self) -> int:
        return len(self._sessions)

    def publish(self, account: str, event: dict[str, object]) -> None:
        for session in list(self._sessions):
            session.deliver(account, event)

    async def close_all(self, *, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        sessions = list(self._sessions)
        await asyncio.gather(
            *(s.ws.close(code=code, message=message) for s in sessions), return_exceptions=True
        )
