"""The approval cache: a verdict is reused only for the same account, the same order terms
(fingerprint), the same limits versions and the same invalidation epoch, within a TTL.
Changing a limit changes its version; `invalidate_approvals` bumps the epoch. Any cache
failure means a fresh check — never an approval."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis
from django.conf import settings

from . import redis_keys

logger = logging.getLogger(__name__)


def fingerprint(*, symbol: str, side: str, order_type: str, quantity: Any, price: Any) -> str:
    text = "|".join(str(v) for v in (symbol, side, order_type, quantity, price))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _epoch(account_id: int) -> str:
    return str(redis_keys.client().get(redis_keys.key(f"approvals-epoch:{account_id}")) or "0")


def cache_key(*, account_id: int, order_fingerprint: str, limits_version: str) -> str:
    return redis_keys.key(f"approval:{account_id}:{order_fingerprint}:{limits_version}:{_epoch(account_id)}")


def get_cached(key: str) -> dict[str, Any] | None:
    try:
        raw = redis_keys.client().get(key)
    except redis.RedisError:
        return None
    return json.loads(raw) if raw else None  # type: ignore[arg-type]


def put_cached(key: str, approval: dict[str, Any]) -> None:
    try:
        redis_keys.client().set(key, json.dumps(approval), ex=settings.RISK_APPROVAL_TTL_SECONDS)
    except redis.RedisError:
        logger.warning("approval cache unavailable; approvals are not cached")


def invalidate_approvals(*, account_id: int) -> None:
    """Make every cached approval of the account unusable (API, admin, limit changes)."""
    try:
        redis_keys.client().incr(redis_keys.key(f"approvals-epoch:{account_id}"))
    except redis.RedisError:
        logger.warning("could not bump the approval epoch of account %s", account_id)
