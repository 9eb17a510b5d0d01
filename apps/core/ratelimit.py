"""Rate limits per endpoint group, per user and per client IP, counted by django-ratelimit.

A view names its group with `ratelimit_group` ("default" otherwise); the rates come from
settings.RATE_LIMITS. Implemented as a DRF throttle so that DRF answers 429 with
`Retry-After` (seconds until the current window ends) and the error handler gives it the
`rate_limited` code.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)


class GroupRateLimit(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not getattr(settings, "RATELIMIT_ENABLE", True):
            return True
        group = getattr(view, "ratelimit_group", "default")
        rates = settings.RATE_LIMITS.get(group, settings.RATE_LIMITS["default"])
        keys: list[tuple[str, Any]] = [("ip", "ip")]
        if request.user and request.user.is_authenticated:
            keys.insert(0, ("user", "user"))
        # A view may count by more: the token endpoint also counts per submitted username.
        keys += list(getattr(view, "ratelimit_extra_keys", {}).items())
        for name, key in keys:
            try:
                usage = get_usage(request, group=f"{group}:{name}", key=key, rate=rates[name], increment=True)
            except redis.RedisError:
                # Rate limits protect capacity, not money: with the counter store down we let
                # the request through (the kill switch, not this, is the fail-closed control).
                logger.warning("rate limit store unavailable; request not counted")
                return True
            if usage is not None and usage["should_limit"]:
                self._wait = max(1, int(usage["time_left"]))
                return False
        return True

    def wait(self) -> float | None:
        return self._wait
