"""`Idempotency-Key` handling for every unsafe request (Stripe semantics).

- same key, same method/path/body → the stored response, with `Idempotent-Replayed: true`;
- same key, another method/path/body → 422 `idempotency_key_reused`;
- same key while the first request still runs → 409 `idempotency_request_in_progress`;
- a view that declares the key required (`idempotency_required` holds its action or method)
  answers 400 `idempotency_key_required` without one.

Responses of 5xx and 429 are not stored (the key is released): their outcome is unknown or
nothing ran, so a retry must run. Keys are per user; an unauthenticated request passes
through untouched and the view answers 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication

from apps.core.api.exception_handler import error_body
from apps.core.errors import ErrorCode

from .services import ClaimOutcome, claim_key, complete_key, release_key, request_fingerprint

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_UNSTORED_STATUSES = frozenset({429})


class IdempotencyKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._jwt = JWTAuthentication()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in _SAFE_METHODS:
            return self.get_response(request)
        key = request.headers.get(HEADER)
        user = self._user(request)
        if user is None:
            return self.get_response(request)
        if key is None:
            if _key_required(request):
                return _error(
                    400, ErrorCode.IDEMPOTENCY_KEY_REQUIRED, f"This request needs an {HEADER} header."
                )
            return self.get_response(request)
        if not _KEY_RE.match(key):
            return _error(
                400, ErrorCode.IDEMPOTENCY_KEY_INVALID, f"{HEADER} must be 1-255 printable ASCII characters."
            )
        return self._run_once(request, user_id=int(user.pk), key=key)

    def _run_once(self, request: HttpRequest, *, user_id: int, key: str) -> HttpResponse:
        method = request.method or "POST"
        path = request.get_full_path()
        claim = claim_key(
            user_id=user_id,
            key=key,
            fingerprint=request_fingerprint(method=method, path=path, body=request.body),
            method=method,
            path=path,
        )
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
        if claim.outcome is ClaimOutcome.REPLAY:
            replay = HttpResponse(
                claim.response_body, status=claim.response_status, content_type=claim.response_content_type
            )
            replay[REPLAY_HEADER] = "true"
            return replay

        try:
            response = self.get_response(request)
        except BaseException:
            release_key(record_id=claim.record_id)
            raise
        if response.status_code >= 500 or response.status_code in _UNSTORED_STATUSES or response.streaming:
            release_key(record_id=claim.record_id)
        else:
            complete_key(
                record_id=claim.record_id,
                status=response.status_code,
                body=response.content,
                content_type=response.get("Content-Type", ""),
            )
        return response

    def _user(self, request: HttpRequest) -> AbstractBaseUser | None:
        session_user = getattr(request, "user", AnonymousUser())
        if session_user.is_authenticated:
            return session_user  # type: ignore[return-value]
        try:
            result = self._jwt.authenticate(request)  # type: ignore[arg-type]
        except AuthenticationFailed:
            return None
        return result[0] if result else None


def _key_required(request: HttpRequest) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    view_class: Any = getattr(match.func, "cls", None)
    required = getattr(view_class, "idempotency_required", ())
    method = (request.method or "").lower()
    action = getattr(match.func, "actions", {}).get(method, method)
    return action in required


def _error(status: int, code: ErrorCode, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, "Idempotency-Key"), status=status)
