"""Who is calling: the authenticated user of a DRF request, and JWT authentication that runs
at most once per request.

The Idempotency-Key middleware must know the caller before the view runs (keys are per
user), and DRF authenticates again when the view starts. Decoding the token and loading the
user twice cost a signature check and a `SELECT auth_user` per unsafe request, so the first
successful result is kept on the Django request and DRF's authentication class returns it.
Failures are never kept: a missing, expired or forged token is checked again by DRF and
answered 401 as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

# Set only by server code (never from request data): the (user, validated token) pair.
_AUTHENTICATED = "_tradingbot_jwt_authenticated"


def request_user(request: Request) -> User:
    """The authenticated user of a request (views behind IsAuthenticated)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotAuthenticated()
    return user


class JWTOnceAuthentication(JWTAuthentication):
    """simplejwt's authentication, but a request already authenticated by bearer token (by
    the Idempotency-Key middleware) is not decoded and looked up again. Same
    `WWW-Authenticate` header, so DRF still answers 401 (not 403) without credentials."""

    def authenticate(self, request: Request | HttpRequest) -> tuple[Any, Any] | None:
        django_request: HttpRequest = getattr(request, "_request", request)
        known = getattr(django_request, _AUTHENTICATED, None)
        if known is not None:
            return known
        result = super().authenticate(request)  # type: ignore[arg-type]
        if result is not None:
            setattr(django_request, _AUTHENTICATED, result)
        return result


def authenticate_bearer(request: HttpRequest) -> tuple[Any, Any] | None:
    """(user, token) from the request's bearer token, remembered for DRF; None without one.
    Raises AuthenticationFailed for a bad token (expired, forged, unknown or inactive user)."""
    return JWTOnceAuthentication().authenticate(request)


class JWTOnceScheme(SimpleJWTScheme):
    """OpenAPI: the same `jwtAuth` bearer scheme as simplejwt's own class."""

    target_class = "apps.core.api.auth.JWTOnceAuthentication"
