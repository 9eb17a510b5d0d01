"""The aiohttp application: REST endpoints behind one dispatcher, plus the WebSocket API.

The dispatcher applies, in Binance's order: request weight (429/-1003 over the limit), an
injected fault, the signature (signed endpoints), the order-count limit (new orders), then
the handler. Every response carries `X-MBX-USED-WEIGHT-1M`; new-order responses also carry
`X-MBX-ORDER-COUNT-10S` / `-1D`; 429s carry `Retry-After` in seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from .context import CONTEXT, SimContext
from .errors import BinanceError
from .routes import ENDPOINTS, Call, Endpoint
from .ws import PATH as WS_PATH
from .ws import ws_api

logger = logging.getLogger(__name__)

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(ctx: SimContext) -> web.Application:
    app = web.Application()
    app[CONTEXT] = ctx
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.path, _dispatcher(endpoint))
    app.router.add_get(WS_PATH, ws_api)
    app.on_shutdown.append(_close_websockets)
    return app


async def _close_websockets(app: web.Application) -> None:
    await app[CONTEXT].hub.close_all()


def _dispatcher(endpoint: Endpoint) -> RequestHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        headers: dict[str, str] = {}
        try:
            body = await _run(ctx, endpoint, request, headers)
        except BinanceError as error:
            if error.retry_after is not None:
                headers["Retry-After"] = str(error.retry_after)
            return web.json_response(error.body(), status=error.status, headers=headers)
        except Exception:
            logger.exception("Simulator failed on %s %s", request.method, request.path)
            return web.json_response(
                {"code": -1000, "msg": "An unknown error occurred while processing the request."},
                status=500,
                headers=headers,
            )
        return web.json_response(body, headers=headers)

    return handle


async def _run(ctx: SimContext, endpoint: Endpoint, request: web.Request, headers: dict[str, str]) -> object:
    raw_query = request.rel_url.raw_query_string
    raw_body = await request.text() if request.can_read_body else ""
    params = dict(parse_qsl(raw_body, keep_blank_values=True))
    params.update(parse_qsl(raw_query, keep_blank_values=True))
    now = ctx.exchange.clock()
    ip = request.remote or ""
    try:
        ctx.limiter.charge_weight(ip, endpoint.weight(params), now)
    finally:
        headers["X-MBX-USED-WEIGHT-1M"] = str(ctx.limiter.used_weight(ip, now))
    failure = ctx.faults.take(endpoint.path)
    if failure is not None and not failure.execute:
        raise failure.error(ctx.faults.retry_after_seconds)
    api_key = ""
    if endpoint.signed:
        api_key = ctx.exchange.auth.verify_rest(
            api_key=request.headers.get("X-MBX-APIKEY"),
            raw_query=raw_query,
            raw_body=raw_body,
            params=params,
            now_ms=now,
        )
    if endpoint.new_order:
        try:
            ctx.limiter.charge_order(api_key, now)
        finally:
            counts = ctx.limiter.order_counts(api_key, now)
            headers["X-MBX-ORDER-COUNT-10S"] = str(counts.ten_seconds)
            headers["X-MBX-ORDER-COUNT-1D"] = str(counts.day)
    result = endpoint.handler(ctx, Call(params=params, api_key=api_key, now_ms=now))
    if failure is not None:
        raise failure.error(ctx.faults.retry_after_seconds)
    return result
