"""`manage.py reencrypt_credentials`: the last step of a Fernet key rotation
(docs/SECURITY.md). With FIELD_ENCRYPTION_KEYS="<new>,<old>" every stored API key and secret
is decrypted (any listed key) and encrypted again with the newest key, each account in its
own transaction; afterwards the old key can be removed from the list."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.execution.crypto import decrypt_secret, encrypt_secret
from apps.execution.models import ExchangeAccount


class Command(BaseCommand):
    help = "Re-encrypt every stored exchange credential with the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        for account_id in ExchangeAccount.objects.exclude(api_key_encrypted="").values_list("pk", flat=True):
            with transaction.atomic():
                account = ExchangeAccount.objects.select_for_update().get(pk=account_id)
                for field in ("api_key_encrypted", "api_secret_encrypted"):
                    token = getattr(account, field)
                    if token:
                        setattr(account, field, encrypt_secret(decrypt_secret(token)))
                account.save(update_fields=["api_key_encrypted", "api_secret_encrypted"])
            done += 1
        self.stdout.write(f"re-encrypted the credentials of {done} account(s) with the newest key")
