"""The approval cache: a verdict is reused only for the same account, the same order terms
(fingerprint), the same limits versions and the same invalidation epoch, within a TTL.
Changing a limit changes its version; `invalidate_approvals` bumps the epoch. Any cache
failure means a fresh check — never an approval.

Any ORM save or delete of a limits row also bumps the epoch (RiskConfig.ready): a row deleted
and created again starts at version 1, which the version alone would not tell apart."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from . import redis_keys

logger = logging.getLogger(__name__)


def fingerprint(*, symbol: str, side: str, order_type: str, quantity: Any, price: Any) -> str:
    text = "|".join(str(v) for v in (symbol, side, order_type, quantity, price))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _epoch_key(account_id: int) -> str:
    return redis_keys.key(f"approvals-epoch:{account_id}")


def _epoch(account_id: int) -> str:
    return str(redis_keys.client().get(_epoch_key(account_id)) or "0")


def cache_key(
    *, account_id: int, order_fingerprint: str, limits_version: str, epoch: str | None = None
) -> str:
    """`epoch`: the account's epoch when the caller already read it (one round trip less)."""
    current = _epoch(account_id) if epoch is None else epoch
    return redis_keys.key(f"approval:{account_id}:{order_fingerprint}:{limits_version}:{current}")


@dataclass(frozen=True)
class Snapshot:
    """What one order's check reads from Redis before anything else, in one round trip."""

    epoch: str | None  # None: never bumped
    failing: bool  # validation failures are being recorded (health's `failing-since`)


def snapshot(*, account_id: int) -> Snapshot:
    """The account's approval epoch and whether validation failures are recorded: one `MGET`
    instead of a `GET` before and a `DEL` after every check. Raises redis.RedisError."""
    values = redis_keys.client().mget(*snapshot_keys(account_id=account_id))
    return snapshot_of(values)  # type: ignore[arg-type]


def snapshot_keys(*, account_id: int) -> tuple[str, str]:
    """The keys `snapshot` reads with one `MGET` (for a caller reading them in a pipeline)."""
    return _epoch_key(account_id), redis_keys.key("failing-since")


def snapshot_of(values: list[str | None]) -> Snapshot:
    """The snapshot from the `MGET` of `snapshot_keys`."""
    epoch, failing = values
    return Snapshot(epoch=epoch, failing=failing is not None)


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
        redis_keys.client().incr(_epoch_key(account_id))
    except redis.RedisError:
        logger.warning("could not bump the approval epoch of account %s", account_id)
