"""A Fernet key rotation (docs/SECURITY.md): add the new key in front, re-encrypt, drop the old."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from apps.execution import services
from apps.execution.crypto import decrypt_secret
from apps.execution.models import ExchangeAccount


@pytest.mark.django_db
def test_a_fernet_rotation_ends_with_every_credential_under_the_new_key(user) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        account = services.create_account(
            owner=user, name="rot", mode="simulated", api_key="k-1", api_secret="s-1"
        )
    before = account.api_key_encrypted
    out = StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        call_command("reencrypt_credentials", stdout=out)
    account = ExchangeAccount.objects.get(pk=account.pk)

    assert "1 account(s)" in out.getvalue()
    assert account.api_key_encrypted != before
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):  # the old key is gone: everything still reads
        assert decrypt_secret(account.api_key_encrypted) == "k-1"
        assert decrypt_secret(account.api_secret_encrypted) == "s-1"
