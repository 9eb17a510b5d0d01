"""Rate limits, authentication on every endpoint, health checks, error format."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tradingbot.embedded import embedded_redis

# metrics and ops/ have their own rules (network or token; staff session), tested in
# tradingbot/observability/tests.
PUBLIC_PREFIXES = (
    "health/",
    "api/v1/auth/token/",
    "api/schema/",
    "api/docs/",
    "admin/",
    "api-auth/",
    "metrics",
    "ops/",
)


def _walk(patterns: list, prefix: str = "") -> list[str]:
    routes: list[str] = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            routes += _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            routes.append(route)
    return routes


def _concrete(route: str) -> str:
    """Turn a route or regex into a requestable path with a placeholder for each parameter."""
    path = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    path = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000001", path)
    path = re.sub(r"<(?:\w+:)?\w+>", "1", path)
    path = path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    return "/" + path


def protected_paths() -> list[str]:
    return sorted(
        {
            _concrete(r)
            for r in _walk(get_resolver().url_patterns)
            if not r.lstrip("^").startswith(PUBLIC_PREFIXES)
        }
    )


def _expired_token(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def _forged_token(user) -> str:
    claims = dict(AccessToken.for_user(user).payload)
    return jwt.encode(claims, "not-the-signing-key-but-long-enough-for-hs256", algorithm="HS256")


@pytest.mark.django_db
def test_every_protected_endpoint_refuses_missing_expired_and_forged_tokens(user) -> None:
    paths = protected_paths()
    assert "/api/v1/me/" in paths  # the walk really reaches the API
    tokens = {"missing": None, "expired": _expired_token(user), "forged": _forged_token(user)}
    failures = []
    for path in paths:
        for label, token in tokens.items():
            client = APIClient()
            if token:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            for method in ("get", "post", "put", "patch", "delete"):
                response = getattr(client, method)(path, {}, format="json")
                if response.status_code != 401:
                    failures.append((method.upper(), path, label, response.status_code))
    assert failures == []


@pytest.mark.django_db
def test_valid_token_reaches_protected_endpoint(api_client: APIClient, user) -> None:
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_valid_token_of_a_user_deactivated_or_deleted_since_is_refused(user, change) -> None:
    """The token is genuine and unexpired; the user row decides (read on every request)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert client.get("/api/v1/me/").status_code == 200
    if change == "deactivated":
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    else:
        type(user).objects.filter(pk=user.pk).delete()
    message = {"deactivated": "User is inactive", "deleted": "User not found"}[change]

    for response in (
        client.get("/api/v1/me/"),
        client.post(
            "/api/v1/orders/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        ),  # via the key middleware
    ):
        assert response.status_code == 401
        assert response.json()["error"] == {
            "code": "authentication_failed",
            "message": message,
            "field": None,
        }


@pytest.mark.django_db
def test_token_obtain_and_refresh(user) -> None:
    client = APIClient()
    pair = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "correct-horse-battery"}
    )
    assert pair.status_code == 200
    refreshed = client.post("/api/v1/auth/token/refresh/", {"refresh": pair.json()["refresh"]})
    assert refreshed.status_code == 200
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}").get("/api/v1/me/")
    assert me.status_code == 200


@pytest.mark.django_db
def test_request_past_the_limit_gets_429_with_retry_after(api_client: APIClient) -> None:
    limits = {**settings.RATE_LIMITS, "default": {"user": "3/m", "ip": "100/m"}}
    with override_settings(RATE_LIMITS=limits):
        statuses = [api_client.get("/api/v1/me/").status_code for _ in range(3)]
        limited = api_client.get("/api/v1/me/")

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60


@pytest.mark.django_db
def test_ip_limit_applies_across_users(api_client: APIClient, other_api_client: APIClient) -> None:
    limits = {**settings.RATE_LIMITS, "default": {"user": "100/m", "ip": "2/m"}}
    with override_settings(RATE_LIMITS=limits):
        assert api_client.get("/api/v1/me/").status_code == 200
        assert other_api_client.get("/api/v1/me/").status_code == 200
        assert other_api_client.get("/api/v1/me/").status_code == 429


def test_liveness_touches_nothing(client) -> None:
    # No db mark: pytest-django fails any database access; Redis points nowhere.
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0", CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/health/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_readiness_names_redis_when_it_is_unreachable(client, tmp_path) -> None:
    with (
        embedded_redis(tmp_path) as url,
        override_settings(REDIS_URL=url, CELERY_BROKER_URL=url, HEALTH_CHECK_TIMEOUT_SECONDS=0.5),
    ):
        healthy = client.get("/health/ready/")
    # The context has stopped that redis-server: the same URL now refuses connections.
    with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url, HEALTH_CHECK_TIMEOUT_SECONDS=0.5):
        started = time.monotonic()
        broken = client.get("/health/ready/")
        elapsed = time.monotonic() - started

    assert healthy.status_code == 200, healthy.json()
    assert broken.status_code == 503
    body = broken.json()
    assert "redis" in body["failing"]
    assert "postgresql" not in body["failing"]
    assert body["checks"]["redis"]["error"]
    assert elapsed < 10
