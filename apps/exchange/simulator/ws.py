"""The WebSocket API (`/ws-api/v3`): JSON requests `{"id", "method", "params"}`, user-data events.

Implemented methods: `ping`, `time`, `session.status`, `session.subscriptions`,
`userDataStream.subscribe.signature` and `userDataStream.unsubscribe` — what python-binance
1.0.37's `BinanceSocketManager.user_socket()` uses (subscribe on connect, unsubscribe on exit)
plus the cheap session queries. Responses carry `rateLimits`; the request weight is shared
with REST per IP, as on Binance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from .context import CONTEXT, SimContext
from .errors import BinanceError
from .hub import Session

logger = logging.getLogger(__name__)
PATH = "/ws-api/v3"

Method = Callable[[SimContext, Session, dict[str, Any]], Awaitable[object]]


async def _ping(_ctx: SimContext, _session: Session, _params: dict[str, Any]) -> object:
    return {}


async def _time(ctx: SimContext, _session: Session, _params: dict[str, Any]) -> object:
    return {"serverTime": ctx.exchange.clock()}


async def _status(ctx: SimContext, session: Session, _params: dict[str, Any]) -> object:
    return {
        "apiKey": None,
        "authorizedSince": None,
        "connectedSince": session.connected_ms,
        "returnRateLimits": True,
        "serverTime": ctx.exchange.clock(),
        "userDataStream": bool(session.subscriptions),
    }


async def _subscriptions(_ctx: SimContext, session: Session, _params: dict[str, Any]) -> object:
    return [{"subscriptionId": sid} for sid in session.subscriptions]


async def _subscribe_signature(ctx: SimContext, session: Session, params: dict[str, Any]) -> object:
    api_key = ctx.exchange.auth.verify_ws(params, ctx.exchange.clock())
    return {"subscriptionId": session.subscribe(api_key)}


async def _unsubscribe(_ctx: SimContext, session: Session, params: dict[str, Any]) -> object:
    raw = params.get("subscriptionId")
    try:
        subscription_id = None if raw is None else int(raw)
    except (TypeError, ValueError):
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'subscriptionId'.") from None
    session.unsubscribe(subscription_id)
    return {}


METHODS: dict[str, tuple[int, Method]] = {
    "ping": (1, _ping),
    "time": (1, _time),
    "session.status": (2, _status),
    "session.subscriptions": (2, _subscriptions),
    "userDataStream.subscribe.signature": (2, _subscribe_signature),
    "userDataStream.unsubscribe": (2, _unsubscribe),
}


async def ws_api(request: web.Request) -> web.WebSocketResponse:
    """One WebSocket API connection. We answer pings ourselves to know when pongs arrive."""
    ctx = request.app[CONTEXT]
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    session = Session(
        ws=ws, faults=ctx.faults, remote=request.remote or "", connected_ms=ctx.exchange.clock()
    )
    ctx.hub.add(session)
    tasks = [
        asyncio.create_task(session.run_sender()),
        asyncio.create_task(session.run_pinger(ctx.ping_interval_s, ctx.pong_timeout_s)),
    ]
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _handle(ctx, session, message.data)
            elif message.type == WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type == WSMsgType.PONG:
                session.pong()
    finally:
        ctx.hub.remove(session)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ws


async def _handle(ctx: SimContext, session: Session, text: str) -> None:
    try:
        request = json.loads(text)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        session.respond(_error(None, BinanceError(400, -1100, "Malformed request."), [], 0))
        return
    request_id = request.get("id")
    method = request.get("method")
    params = request.get("params") or {}
    now = ctx.exchange.clock()
    spec = METHODS.get(method) if isinstance(method, str) else None
    try:
        if spec is None or not isinstance(params, dict):
            raise BinanceError(400, -1000, f"Unknown method: {method!r}.")
        weight, handler = spec
        ctx.limiter.charge_weight(session.remote, weight, now)
        result = await _call(ctx, session, str(method), handler, params)
    except BinanceError as error:
        session.respond(_error(request_id, error, ctx.limiter.ws_rate_limits(session.remote, now), now))
        return
    session.respond(
        {
            "id": request_id,
            "status": 200,
            "result": result,
            "rateLimits": ctx.limiter.ws_rate_limits(session.remote, now),
        }
    )


async def _call(
    ctx: SimContext, session: Session, method: str, handler: Method, params: dict[str, Any]
) -> object:
    failure = ctx.faults.take(method)
    if failure is not None and not failure.execute:
        raise failure.error(ctx.faults.retry_after_seconds)
    result = await handler(ctx, session, params)
    if failure is not None:
        raise failure.error(ctx.faults.retry_after_seconds)
    return result


def _error(
    request_id: object, error: BinanceError, rate_limits: list[dict[str, object]], now_ms: int
) -> dict[str, object]:
    body: dict[str, object] = {"code": error.code, "msg": error.msg}
    if error.retry_after is not None:
        # Binance puts the time the limit lifts (ms since the epoch), not a duration, here.
        body["data"] = {"serverTime": now_ms, "retryAfter": now_ms + error.retry_after * 1000}
    return {"id": request_id, "status": error.status, "error": body, "rateLimits": rate_limits}
