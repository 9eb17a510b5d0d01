"""`Idempotency-Key` handling for every unsafe request (Stripe semantics).

- same key, same method/path/body → the stored response, with `Idempotent-Replayed: true`;
- same key, another method/path/body → 422 `idempotency_key_reused`;
- same key while the first request still runs → 409 `idempotency_request_in_progress`;
- a view that declares the key required (`idempotency_required` holds its action or method)
  answers 400 `idempotency_key_required` without one.

Responses of 5xx and 429 are not stored (the key is released): their outcome is unknown or
nothing ran, so a retry must run. Keys are per user; an unauthenticated request passes
through untouched and the view answers 401.

Two ways to hold the key while the view runs:

- by default the claim is committed before the view runs and the response stored after it,
  each in its own transaction; a concurrent request with the key gets 409 meanwhile;
- a view that lists the action in `idempotency_atomic` runs inside the claim's transaction:
  claim, the view's writes and the stored response commit together (one commit instead of
  three), and a 5xx or 429 rolls all of it back. A concurrent request with the key waits on
  the key row until the first commits, then gets its replay (or runs, if the first rolled
  back). For views whose work is all in the database, with side effects on commit: a crash
  leaves neither a key nor half of the view's writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.exceptions import AuthenticationFailed

from apps.core.api.auth import authenticate_bearer
from apps.core.api.exception_handler import error_body
from apps.core.errors import ErrorCode

from .services import Claim, ClaimOutcome, claim_key, complete_key, release_key, request_fingerprint

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_UNSTORED_STATUSES = frozenset({429})


@dataclass(frozen=True)
class _KeyPolicy:
    """What the view declares: the key is required; the key and the view share a transaction."""

    required: bool = False
    atomic: bool = False


class IdempotencyKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in _SAFE_METHODS:
            return self.get_response(request)
        key = request.headers.get(HEADER)
        user = _user(request)
        if user is None:
            return self.get_response(request)
        policy = _policy_of(request)
        if key is None or not _KEY_RE.match(key):
            refusal = _refusal(key, policy)
            return refusal if refusal is not None else self.get_response(request)
        if policy.atomic:
            return self._run_once_in_one_transaction(request, user_id=int(user.pk), key=key)
        return self._run_once(request, user_id=int(user.pk), key=key)

    def _run_once(self, request: HttpRequest, *, user_id: int, key: str) -> HttpResponse:
        claim = _claim(request, user_id=user_id, key=key)
        if claim.outcome is not ClaimOutcome.ACQUIRED:
            return _answer_to_unacquired(claim)
        try:
            response = self.get_response(request)
        except BaseException:
            release_key(record_id=claim.record_id)
            raise
        if _unstored(response):
            release_key(record_id=claim.record_id)
        else:
            _store(claim, response)
        return response

    def _run_once_in_one_transaction(self, request: HttpRequest, *, user_id: int, key: str) -> HttpResponse:
        """Claim, view and stored response in one transaction. The uncommitted key row makes
        a concurrent request with the same key wait (unique index) until this one ends."""
        with transaction.atomic():
            claim = _claim(request, user_id=user_id, key=key)
            if claim.outcome is not ClaimOutcome.ACQUIRED:
                return _answer_to_unacquired(claim)
            response = self.get_response(request)
            if _unstored(response):
                transaction.set_rollback(True)  # nothing happened: no key, none of the view's writes
            else:
                _store(claim, response)
            return response


def _refusal(key: str | None, policy: _KeyPolicy) -> HttpResponse | None:
    """400 for a missing key the view requires, or a malformed one; None: run without a key."""
    if key is not None:
        return _error(
            400, ErrorCode.IDEMPOTENCY_KEY_INVALID, f"{HEADER} must be 1-255 printable ASCII characters."
        )
    if policy.required:
        return _error(400, ErrorCode.IDEMPOTENCY_KEY_REQUIRED, f"This request needs an {HEADER} header.")
    return None


def _claim(request: HttpRequest, *, user_id: int, key: str) -> Claim:
    method = request.method or "POST"
    path = request.get_full_path()
    return claim_key(
        user_id=user_id,
        key=key,
        fingerprint=request_fingerprint(method=method, path=path, body=request.body),
        method=method,
        path=path,
    )


def _answer_to_unacquired(claim: Claim) -> HttpResponse:
    """The answer when the view must not run: another request's key, still running or done."""
    if claim.outcome is ClaimOutcome.MISMATCH:
        return _error(
            422,
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"This {HEADER} was used with a different request (method, path or body).",
        )
    if claim.outcome is ClaimOutcome.IN_PROGRESS:
        return _error(
            409,
            ErrorCode.IDEMPOTENCY_REQUEST_IN_PROGRESS,
            f"A request with this {HEADER} is still running.",
        )
    replay = HttpResponse(
        claim.response_body, status=claim.response_status, content_type=claim.response_content_type
    )
    replay[REPLAY_HEADER] = "true"
    return replay


def _unstored(response: HttpResponse) -> bool:
    """5xx: outcome unknown; 429: nothing ran; streaming: no body to keep. A retry runs."""
    return response.status_code >= 500 or response.status_code in _UNSTORED_STATUSES or response.streaming


def _store(claim: Claim, response: HttpResponse) -> None:
    complete_key(
        record_id=claim.record_id,
        status=response.status_code,
        body=response.content,
        content_type=response.get("Content-Type", ""),
    )


def _user(request: HttpRequest) -> AbstractBaseUser | None:
    """The caller: a session user, or the bearer token's (kept for DRF, which then does not
    decode it again). None for anyone else; DRF answers them 401."""
    session_user = getattr(request, "user", AnonymousUser())
    if session_user.is_authenticated:
        return session_user  # type: ignore[return-value]
    try:
        result = authenticate_bearer(request)
    except AuthenticationFailed:
        return None
    return result[0] if result else None


def _policy_of(request: HttpRequest) -> _KeyPolicy:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return _KeyPolicy()
    view_class: Any = getattr(match.func, "cls", None)
    method = (request.method or "").lower()
    action = getattr(match.func, "actions", {}).get(method, method)
    return _KeyPolicy(
        required=action in getattr(view_class, "idempotency_required", ()),
        atomic=action in getattr(view_class, "idempotency_atomic", ()),
    )


def _error(status: int, code: ErrorCode, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, "Idempotency-Key"), status=status)
