"""Who is calling: the authenticated user of a DRF request, and JWT authentication that runs
at most once per request.

The Idempotency-Key middleware must know the caller before the view runs (keys are per
user), and DRF authenticates again when the view starts. Decoding the token and loading the
user twice cost a signature check and a `SELECT auth_user` per unsafe request, so the first
successful result is kept on the Django request and DRF's authentication class returns it.
Failures are never kept: a missing, expired or forged token is checked again by DRF and
answered 401 as before. The user row is read with its SQL written once (apps/core/rows.py):
simplejwt's `objects.get` compiled it on every request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from apps.core.rows import RowQuery

# Set only by server code (never from request data): the (user, validated token) pair.
_AUTHENTICATED = "_tradingbot_jwt_authenticated"
_USER_BY_ID = RowQuery(User, where='"id" = %s')


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

    def get_user(self, validated_token: Token) -> Any:
        """simplejwt's `get_user` — same checks, same errors — with the row read by a kept
        statement. Configurations it does not cover (another user model or id field, token
        revocation on password change) take simplejwt's own path."""
        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        if (
            user_id is None
            or self.user_model is not User
            or api_settings.USER_ID_FIELD != "id"
            or api_settings.CHECK_REVOKE_TOKEN
        ):
            return super().get_user(validated_token)
        user = _USER_BY_ID.first(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        return user


def authenticate_bearer(request: HttpRequest) -> tuple[Any, Any] | None:
    """(user, token) from the request's bearer token, remembered for DRF; None without one.
    Raises AuthenticationFailed for a bad token (expired, forged, unknown or inactive user)."""
    return JWTOnceAuthentication().authenticate(request)


class JWTOnceScheme(SimpleJWTScheme):
    """OpenAPI: the same `jwtAuth` bearer scheme as simplejwt's own class."""

    target_class = "apps.core.api.auth.JWTOnceAuthentication"
