"""The user-data stream of one account: WebSocket API `userDataStream.subscribe.signature`.

Why not python-binance's `BinanceSocketManager.user_socket()`: in 1.0.37 it does not
subscribe again after its connection reconnects (events then stop silently) and reports
errors as queue messages. This small client owns the connection instead, so every
(re)connect is followed by a fresh subscription and by recovery of the gap (trades since the
last one we hold, through REST), and a dead peer is noticed by WebSocket ping/pong within
`ping_interval + ping_timeout` seconds. Binance closes connections after 24 h: we reconnect
on our own schedule before that.

Events arrive as `{"subscriptionId": N, "event": {...}}`; they are handled in order, in a
worker thread (the Django ORM is synchronous). A reader task keeps receiving while events are
applied; execution reports that are already waiting when the previous work ends are applied
as one burst (their fills in one transaction), a lone one at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import redis
import websockets
from django.conf import settings

from apps.exchange.binance.events import ExecutionReport, parse_account_position, parse_execution_report
from apps.execution.crypto import decrypt_secret
from apps.execution.models import ExchangeAccount
from apps.execution.services.venue_events import (
    apply_execution_reports,
    record_account_position,
    recover_missed_fills,
)
from apps.execution.venues import adapter_for

logger = logging.getLogger(__name__)

PLANNED_RECONNECT_SECONDS = 23 * 3600


def health_key(account_id: int) -> str:
    """Where an account's stream health lives: under the deployment's cache key prefix, so two
    deployments (or a test run) sharing one Redis never read each other's streams."""
    return f"{settings.CACHES['default']['KEY_PREFIX']}:user-stream:{account_id}"


class StreamBroken(Exception):
    """The venue answered the subscription with an error or closed the subscription."""


@dataclass
class StreamSettings:
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    backoff_base: float = 0.25
    backoff_max: float = 30.0
    planned_reconnect_seconds: float = PLANNED_RECONNECT_SECONDS


class StreamHealth:
    """Connection state and last-event time in Redis, for /health/ready/ and metrics."""

    def __init__(self, account_id: int, client: redis.Redis | None = None) -> None:
        self.key = health_key(account_id)
        self.redis = client or redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)

    def _set(self, **fields: Any) -> None:
        try:
            self.redis.hset(self.key, mapping={k: str(v) for k, v in fields.items()})
        except redis.RedisError:
            logger.warning("could not record stream health", exc_info=True)

    def connected(self) -> None:
        self._set(state="connected", connected_at=time.time(), last_error="")

    def disconnected(self, reason: str) -> None:
        self._set(state="disconnected", last_error=reason[:500], disconnected_at=time.time())
        with contextlib.suppress(redis.RedisError):
            self.redis.hincrby(self.key, "reconnects", 1)

    def event(self) -> None:
        self._set(last_event_at=time.time())

    def heartbeat(self) -> None:
        """The process is alive (a killed process stops refreshing it: the stream is down)."""
        self._set(heartbeat_at=time.time())

    def stopped(self) -> None:
        self._set(state="stopped", disconnected_at=time.time(), last_error="stopped")


def sign(params: dict[str, Any], secret: str) -> dict[str, Any]:
    """Sign WebSocket API params as Binance (and python-binance) do: sorted, urlencoded."""
    ordered = dict(sorted(params.items()))
    signature = hmac.new(secret.encode(), urlencode(ordered).encode(), hashlib.sha256).hexdigest()
    return {**ordered, "signature": signature}


class AccountStream:
    def __init__(
        self,
        *,
        account_id: int,
        ws_api_url: str,
        api_key: str,
        api_secret: str,
        stream_settings: StreamSettings | None = None,
        health: StreamHealth | None = None,
        time_offset_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        self.account_id = account_id
        self.url = ws_api_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.settings = stream_settings or StreamSettings()
        self.health = health or StreamHealth(account_id)
        self.time_offset_ms = time_offset_ms
        self.connections = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Stay subscribed until `stop` is set, reconnecting with backoff and jitter."""
        beating = asyncio.create_task(self._beat(stop))
        try:
            await self._run(stop)
        finally:
            beating.cancel()
            self.health.stopped()

    async def _beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.health.heartbeat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.USER_STREAM_HEARTBEAT_SECONDS)

    async def _run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                failures = 0
            except (OSError, websockets.WebSocketException, StreamBroken, TimeoutError) as exc:
                failures += 1
                self.health.disconnected(f"{type(exc).__name__}: {exc}")
                delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** min(failures, 10))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
                logger.warning(
                    "account %s stream lost (%s); reconnecting in %.2fs", self.account_id, exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _session(self, stop: asyncio.Event) -> None:
        async with websockets.connect(
            self.url, ping_interval=self.settings.ping_interval, ping_timeout=self.settings.ping_timeout
        ) as ws:
            await self._subscribe(ws)
            self.connections += 1
            self.health.connected()
            # Whatever happened while we were not subscribed is fetched now.
            await asyncio.to_thread(self._recover_gap)
            deadline = time.monotonic() + self.settings.planned_reconnect_seconds
            inbox: asyncio.Queue[dict[str, Any] | _ReadFailed] = asyncio.Queue()
            reader = asyncio.create_task(_read_into(ws, inbox))
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    try:
                        first = await asyncio.wait_for(inbox.get(), timeout=1.0)
                    except TimeoutError:
                        continue
                    await self._dispatch_burst(_waiting(first, inbox))
            finally:
                reader.cancel()

    async def _subscribe(self, ws: Any) -> None:
        request_id = str(uuid.uuid4())
        params = sign(
            {"apiKey": self.api_key, "timestamp": int(time.time() * 1000) + self.time_offset_ms()},
            self.api_secret,
        )
        await ws.send(
            json.dumps({"id": request_id, "method": "userDataStream.subscribe.signature", "params": params})
        )
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if reply.get("id") == request_id:
                break
        if reply.get("status") != 200:
            raise StreamBroken(f"subscription refused: {reply.get('error')}")

    async def _dispatch_burst(self, messages: list[dict[str, Any] | _ReadFailed]) -> None:
        """Messages in arrival order; consecutive execution reports are applied as one burst
        (`apply_execution_reports`: one transaction for their fills instead of one per trade).
        A lone message is applied at once: nothing waits for a burst to build up."""
        reports: list[ExecutionReport] = []
        for message in messages:
            if isinstance(message, _ReadFailed):
                await self._apply_reports(reports)
                raise message.error
            event = message.get("event")
            if event is not None and event.get("e") == "executionReport":
                self.health.event()
                reports.append(parse_execution_report(event))
                continue
            await self._apply_reports(reports)
            reports = []
            await self._dispatch(message)
        await self._apply_reports(reports)

    async def _apply_reports(self, reports: list[ExecutionReport]) -> None:
        if not reports:
            return
        outcomes = await asyncio.to_thread(
            apply_execution_reports, account_id=self.account_id, reports=reports
        )
        if any(outcome.gap_detected for outcome in outcomes):
            await asyncio.to_thread(self._recover_gap)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event is None:
            return  # a reply to a request of ours
        self.health.event()
        kind = event.get("e")
        # Execution reports never get here: `_dispatch_burst` applies them in bursts.
        if kind == "outboundAccountPosition":
            await asyncio.to_thread(
                record_account_position, account_id=self.account_id, position=parse_account_position(event)
            )
        elif kind == "eventStreamTerminated":
            raise StreamBroken("the venue terminated the event stream")

    def _recover_gap(self) -> None:
        account = ExchangeAccount.objects.get(pk=self.account_id)
        recovered = recover_missed_fills(account_id=self.account_id, adapter=adapter_for(account))
        if recovered:
            logger.info("account %s: recovered %s missed fills", self.account_id, recovered)


# At most this many waiting messages are taken as one burst.
MAX_BURST = 200


@dataclass(frozen=True)
class _ReadFailed:
    """The reader's end: the connection closed (or a message was unreadable)."""

    error: Exception


async def _read_into(ws: Any, inbox: asyncio.Queue[dict[str, Any] | _ReadFailed]) -> None:
    """Read messages as they arrive, so that those arriving while a burst is being applied are
    waiting, ready to be taken together, when it is done."""
    try:
        while True:
            inbox.put_nowait(json.loads(await ws.recv()))
    except Exception as exc:  # noqa: BLE001 - handed to the dispatcher, which raises it in order
        inbox.put_nowait(_ReadFailed(exc))


def _waiting(
    first: dict[str, Any] | _ReadFailed, inbox: asyncio.Queue[dict[str, Any] | _ReadFailed]
) -> list[dict[str, Any] | _ReadFailed]:
    """`first` and the messages already waiting behind it (never waits for more)."""
    burst = [first]
    while len(burst) < MAX_BURST and not inbox.empty():
        burst.append(inbox.get_nowait())
    return burst


def stream_for(account: ExchangeAccount, stream_settings: StreamSettings | None = None) -> AccountStream:
    """An AccountStream with the account's venue URL and decrypted credentials."""
    adapter = adapter_for(account)
    client = getattr(adapter, "client", None)
    ws_url = getattr(getattr(client, "ws_api", None), "_url", None) or settings.SIMULATOR_WS_API_URL
    return AccountStream(
        account_id=account.pk,
        ws_api_url=ws_url,
        api_key=decrypt_secret(account.api_key_encrypted),
        api_secret=decrypt_secret(account.api_secret_encrypted),
        stream_settings=stream_settings,
        time_offset_ms=lambda: int(getattr(client, "timestamp_offset", 0)),
    )


def stream_states() -> dict[str, dict[str, object]]:
    """Per streamed account: state, seconds since the last event, reconnects (for health).

    `state` is `connected`, `disconnected` (reconnecting), `stopped` (its process ended
    cleanly), `down` (it said connected but its process stopped refreshing the heartbeat) or
    `never_connected`; `down_seconds` is how long it has not been connected.
    """
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, decode_responses=True)
    now = time.time()
    states: dict[str, dict[str, object]] = {}
    accounts = ExchangeAccount.objects.filter(is_active=True).exclude(api_key_encrypted="")
    for account_id, name in accounts.values_list("pk", "name"):
        raw: dict[str, str] = client.hgetall(health_key(account_id))  # type: ignore[assignment]
        states[str(account_id)] = {"name": name, **_state_of(raw, now)}
    return states


def account_stream_state(account_id: int) -> dict[str, object]:
    """One account's stream state (see `stream_states`); raises redis.RedisError if unreadable."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, decode_responses=True)
    raw: dict[str, str] = client.hgetall(health_key(account_id))  # type: ignore[assignment]
    return _state_of(raw, time.time())


def _seconds_ago(raw: dict[str, str], field: str, now: float) -> float | None:
    return round(now - float(raw[field]), 1) if raw.get(field) else None


def _state_of(raw: dict[str, str], now: float) -> dict[str, object]:
    state = raw.get("state", "never_connected")
    heartbeat_age = _seconds_ago(raw, "heartbeat_at", now)
    last_error = raw.get("last_error", "")
    down_seconds = _seconds_ago(raw, "disconnected_at", now)
    if state == "connected" and (
        heartbeat_age is None or heartbeat_age > settings.USER_STREAM_STALE_AFTER_SECONDS
    ):
        state, last_error = "down", "stream process stopped refreshing its heartbeat"
        # Down since its last sign of life.
        down_seconds = heartbeat_age if heartbeat_age is not None else _seconds_ago(raw, "connected_at", now)
    return {
        "state": state,
        "last_event_age_seconds": _seconds_ago(raw, "last_event_at", now),
        "heartbeat_age_seconds": heartbeat_age,
        "down_seconds": 0.0 if state == "connected" else down_seconds,
        "reconnects": int(raw.get("reconnects", 0)),
        "last_error": last_error,
    }
