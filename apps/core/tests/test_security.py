"""Security pass (docs/SECURITY.md): password guessing on the token endpoint is rate limited
per submitted username (whatever the address) and per address; `check --deploy` is clean with
production settings; the JWT signing key and the Fernet keys come from the environment, and
a Fernet key rotation keeps old credentials readable."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from apps.core.tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]


def guess(username: str, password: str, address: str) -> int:
    client = APIClient(REMOTE_ADDR=address)
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}).status_code


def an_address() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


@pytest.mark.django_db
def test_password_guesses_against_one_username_are_limited_whatever_the_address() -> None:
    victim, bystander = UserFactory.create(), UserFactory.create()
    limits = {**settings.RATE_LIMITS, "auth": {"user": "100/m", "ip": "100/m", "username": "3/m"}}
    with override_settings(RATE_LIMITS=limits):
        guesses = [guess(victim.username, f"guess-{i}", an_address()) for i in range(3)]
        limited = guess(victim.username.upper(), "correct-horse-battery", an_address())
        other = guess(bystander.username, "correct-horse-battery", an_address())

    assert guesses == [401, 401, 401]
    assert limited == 429  # even the right password: the username's budget is spent
    assert other == 200


@pytest.mark.django_db
def test_token_requests_from_one_address_are_limited() -> None:
    address = an_address()
    limits = {**settings.RATE_LIMITS, "auth": {"user": "100/m", "ip": "2/m", "username": "100/m"}}
    with override_settings(RATE_LIMITS=limits):
        first = [guess(UserFactory.create().username, "nope", address) for _ in range(2)]
        third = APIClient(REMOTE_ADDR=address).post("/api/v1/auth/token/", {"username": "x", "password": "y"})

    assert first == [401, 401]
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "rate_limited"
    assert int(third["Retry-After"]) >= 1


def production_env(**extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50), "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "api.example.com",
        **extra,
    }  # fmt: skip


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


DEPLOY_CHECK = [
    sys.executable,
    "manage.py",
    "check",
    "--deploy",
    "--tag",
    "security",
    "--fail-level",
    "WARNING",
]


def test_deploy_checks_are_clean_with_production_settings() -> None:
    for extra in ({}, {"SECURE_SSL_REDIRECT": "true", "SECURE_HSTS_PRELOAD": "true"}):
        done = subprocess.run(  # noqa: S603
            DEPLOY_CHECK, cwd=ROOT, env=production_env(**extra), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no issues" in done.stdout


def test_deploy_checks_fail_when_hsts_is_turned_off() -> None:
    done = subprocess.run(  # noqa: S603
        DEPLOY_CHECK, cwd=ROOT, env=production_env(SECURE_HSTS_SECONDS="0"), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "security.W004" in done.stdout + done.stderr


def test_jwt_signing_key_and_fernet_keys_come_from_the_environment() -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token_by_old_key = Fernet(old.encode()).encrypt(b"api-secret").decode()
    code = (
        "from django.conf import settings; from apps.execution.crypto import decrypt_secret, encrypt_secret; "
        f"print(settings.SIMPLE_JWT['SIGNING_KEY']); print(decrypt_secret({token_by_old_key!r})); "
        "print(encrypt_secret('fresh'))"
    )
    done = run(code, production_env(JWT_SIGNING_KEY="k" * 64, FIELD_ENCRYPTION_KEYS=f"{new},{old}"))

    assert done.returncode == 0, done.stderr
    signing_key, decrypted, fresh = done.stdout.split()
    assert signing_key == "k" * 64
    assert decrypted == "api-secret"  # during a rotation the old key still reads
    assert Fernet(new.encode()).decrypt(fresh.encode()) == b"fresh"  # and new writes use the new key
