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

Database trouble (a failover, a dropped connection, a deadlock that survived its retry) does
not end the stream: the work is retried where it failed, with backoff, on a fresh
connection, until the database takes it (`_db`). A burst's messages have been read from
the socket, and nothing else brings back its status reports (gap recovery re-fetches
trades only), so it is kept, not dropped. Any other error ends the connection: it is logged
and the stream reconnects (and recovers the gap) like after a network error.
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
from typing import Any, TypeVar
from urllib.parse import urlencode

import redis
import websockets
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection

from apps.exchange.binance.events import ExecutionReport, parse_account_position, parse_execution_report
from apps.execution.crypto import decrypt_secret
from apps.execution.models import ExchangeAccount
from apps.execution.services.venue_events import (
    ReportOutcome,
    apply_execution_reports,
    record_account_position,
    recover_missed_fills,
)
from apps.execution.venues import adapter_for

logger = logging.getLogger(__name__)

PLANNED_RECONNECT_SECONDS = 23 * 3600
# Errors after which the same database work can succeed later: the server or the connection
# failed (failover, restart, network, deadlock). Others (a bad value) would fail again.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)

_T = TypeVar("_T")


def health_key(account_id: int) -> str:
    """Where an account's stream health lives: under the deployment's cache key prefix, so two
    deployments (or a test run) sharing one Redis never read each other's streams."""
    return f"{settings.CACHES['default']['KEY_PREFIX']}:user-stream:{account_id}"


class StreamBroken(Exception):
    """The venue answered the subscription with an error or closed the subscription."""


# A connection's usual ends: logged as a warning (anything else with its traceback).
_NETWORK_ERRORS = (OSError, websockets.WebSocketException, StreamBroken, TimeoutError)


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
        self.stop = asyncio.Event()  # `run`'s; ends `_db`'s retries

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
        """Any error of a session ends only that connection: one account's trouble (its
        network, the database, a bug met on one message) must never end its stream, nor,
        through `run_user_stream`, every other account's."""
        self.stop = stop
        failures = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                failures = 0
            except Exception as exc:  # see the docstring; logged below
                failures += 1
                self.health.disconnected(f"{type(exc).__name__}: {exc}")
                delay = self._backoff(failures)
                if isinstance(exc, _NETWORK_ERRORS):
                    logger.warning(
                        "account %s stream lost (%s); reconnecting in %.2fs", self.account_id, exc, delay
                    )
                else:
                    logger.exception(
                        "account %s stream failed; reconnecting in %.2fs", self.account_id, delay
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    def _backoff(self, failures: int) -> float:
        delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** min(failures, 10))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    async def _db(self, work: Callable[..., _T], /, **kwargs: Any) -> _T:
        """`work(**kwargs)` in a worker thread, again and again (with backoff) while the
        database fails in a way that can pass, until it succeeds or the stream stops (then
        the error is raised). Each attempt runs on a usable connection of its thread
        (`_in_db_thread`)."""
        failures = 0
        while True:
            try:
                return await asyncio.to_thread(_in_db_thread, work, kwargs)
            except TRANSIENT_DB_ERRORS as exc:
                failures += 1
                if self.stop.is_set():
                    raise
                delay = self._backoff(failures)
                logger.warning(
                    "account %s: database error in %s (%s); retrying in %.2fs",
                    self.account_id,
                    getattr(work, "__name__", work),
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)

    async def _session(self, stop: asyncio.Event) -> None:
        async with websockets.connect(
            self.url, ping_interval=self.settings.ping_interval, ping_timeout=self.settings.ping_timeout
        ) as ws:
            await self._subscribe(ws)
            self.connections += 1
            self.health.connected()
            # Whatever happened while we were not subscribed is fetched now.
            await self._db(self._recover_gap)
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
        try:
            outcomes = await self._db(apply_execution_reports, account_id=self.account_id, reports=reports)
        except TRANSIENT_DB_ERRORS:
            raise  # only when stopping: `_db` retries them otherwise
        except Exception:  # a report the books refuse; logged, the others still apply
            logger.exception(
                "account %s: burst of %s reports failed; one by one", self.account_id, len(reports)
            )
            outcomes = await self._apply_one_by_one(reports)
        if any(outcome.gap_detected for outcome in outcomes):
            await self._db(self._recover_gap)

    async def _apply_one_by_one(self, reports: list[ExecutionReport]) -> list[ReportOutcome]:
        """A burst that fails for a reason other than the database's state would fail again
        as a whole: each report alone, so that only the one the books refuse is lost (logged;
        reconciliation settles its order from the venue)."""
        outcomes: list[ReportOutcome] = []
        for report in reports:
            try:
                outcomes += await self._db(
                    apply_execution_reports, account_id=self.account_id, reports=[report]
                )
            except TRANSIENT_DB_ERRORS:
                raise
            except Exception:  # see the docstring
                logger.exception(
                    "account %s: execution report of %s not applied",
                    self.account_id,
                    report.our_client_order_id,
                )
        return outcomes

    async def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event is None:
            return  # a reply to a request of ours
        self.health.event()
        kind = event.get("e")
        # Execution reports never get here: `_dispatch_burst` applies them in bursts.
        if kind == "outboundAccountPosition":
            await self._db(
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


def _in_db_thread(work: Callable[..., _T], kwargs: dict[str, Any]) -> _T:
    """Run in the worker thread that owns the connection (Django connections are per thread):
    drop it first if an earlier error left it unusable, and close it after a database error,
    so that the next attempt, in whichever thread, connects afresh (after a failover the old
    connection is dead, and a closed one is reopened on first use)."""
    close_old_connections()
    try:
        return work(**kwargs)
    except DatabaseError:
        with contextlib.suppress(DatabaseError):
            connection.close()
        raise


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
