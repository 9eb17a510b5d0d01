"""Idempotency keys with Stripe semantics, stored in PostgreSQL and scoped per user.

The claim is an `INSERT … ON CONFLICT DO NOTHING` committed before the view runs, so of two
concurrent requests with one key exactly one acquires it; the other sees the row and gets
"in progress" (409) or, once the first has finished, the stored response.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.models import IdempotencyKey


class ClaimOutcome(Enum):
    ACQUIRED = "acquired"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record_id: int
    response_status: int | None = None
    response_body: bytes | None = None
    response_content_type: str = ""


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def claim_key(*, user_id: int, key: str, fingerprint: str, method: str, path: str) -> Claim:
    """Acquire `key` for this request, or say why not (replay, mismatch, in progress)."""
    now = timezone.now()
    expires_at = now + settings.IDEMPOTENCY_KEY_TTL
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {IdempotencyKey._meta.db_table}
                (user_id, key, fingerprint, method, path, state, locked_at,
                 response_content_type, created_at, expires_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s, %s)
            ON CONFLICT (user_id, key) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - table name from model metadata, values parameterized
            [user_id, key, fingerprint, method, path, IdempotencyKey.State.IN_PROGRESS, now, now, expires_at],
        )
        row = cursor.fetchone()
    if row is not None:
        return Claim(ClaimOutcome.ACQUIRED, row[0])
    return _resolve_existing(
        user_id=user_id, key=key, fingerprint=fingerprint, method=method, path=path, now=now
    )


def _resolve_existing(
    *, user_id: int, key: str, fingerprint: str, method: str, path: str, now: datetime
) -> Claim:
    with transaction.atomic():
        record = IdempotencyKey.objects.select_for_update().filter(user_id=user_id, key=key).first()
        if record is None:  # deleted (released or purged) between our insert and this read
            return claim_key(user_id=user_id, key=key, fingerprint=fingerprint, method=method, path=path)
        stale_lock = record.locked_at < now - settings.IDEMPOTENCY_LOCK_TIMEOUT
        expired = record.expires_at <= now
        if expired or (record.state == IdempotencyKey.State.IN_PROGRESS and stale_lock):
            _take_over(record, fingerprint=fingerprint, method=method, path=path, now=now)
            return Claim(ClaimOutcome.ACQUIRED, record.pk)
        if record.fingerprint != fingerprint:
            return Claim(ClaimOutcome.MISMATCH, record.pk)
        if record.state == IdempotencyKey.State.IN_PROGRESS:
            return Claim(ClaimOutcome.IN_PROGRESS, record.pk)
        return Claim(
            ClaimOutcome.REPLAY,
            record.pk,
            response_status=record.response_status,
            response_body=bytes(record.response_body or b""),
            response_content_type=record.response_content_type,
        )


def _take_over(record: IdempotencyKey, *, fingerprint: str, method: str, path: str, now: datetime) -> None:
    record.fingerprint = fingerprint
    record.method = method
    record.path = path
    record.state = IdempotencyKey.State.IN_PROGRESS
    record.locked_at = now
    record.expires_at = now + settings.IDEMPOTENCY_KEY_TTL
    record.response_status = None
    record.response_body = None
    record.response_content_type = ""
    record.save()


def complete_key(*, record_id: int, status: int, body: bytes, content_type: str) -> None:
    """Store the response that every retry with this key will get (plain SQL, like the claim:
    it runs on every order and the ORM's query building cost more than the statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {IdempotencyKey._meta.db_table}
               SET state = %s, response_status = %s, response_body = %s, response_content_type = %s
             WHERE id = %s
            """,  # noqa: S608 - table name from model metadata, values parameterized
            [IdempotencyKey.State.COMPLETED, status, body, content_type, record_id],
        )


def release_key(*, record_id: int) -> None:
    """Forget the key (the request failed without a definite answer); a retry runs afresh."""
    IdempotencyKey.objects.filter(pk=record_id, state=IdempotencyKey.State.IN_PROGRESS).delete()


def purge_expired_keys(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
