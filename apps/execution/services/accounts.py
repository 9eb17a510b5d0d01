from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from apps.execution.crypto import encrypt_secret
from apps.execution.models import ExchangeAccount


@transaction.atomic
def create_account(
    *,
    owner: User,
    name: str,
    mode: str,
    exchange: str = "binance",
    api_key: str = "",
    api_secret: str = "",
) -> ExchangeAccount:
    """Create an exchange account; the credentials are stored only encrypted."""
    return ExchangeAccount.objects.create(
        owner=owner,
        name=name,
        mode=mode,
        exchange=exchange,
        api_key_encrypted=encrypt_secret(api_key) if api_key else "",
        api_secret_encrypted=encrypt_secret(api_secret) if api_secret else "",
    )
