"""What the REST dispatcher and the WebSocket API share: one object on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .faults import Faults
from .hub import Hub
from .ratelimit import RateLimiter
from .state import SimulatedExchange


@dataclass(frozen=True, slots=True)
class SimContext:
    exchange: SimulatedExchange
    limiter: RateLimiter
    faults: Faults
    hub: Hub
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0


CONTEXT = web.AppKey("simulator", SimContext)
