from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from apps.core.errors import Conflict
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
    """Create an exchange account; the credentials are stored only encrypted.

    Names are unique per owner (a constraint, so two concurrent creations cannot both win):
    a taken name is a 409 `conflict` on `name`, not a database error."""
    try:
        with transaction.atomic():
            return ExchangeAccount.objects.create(
                owner=owner,
                name=name,
                mode=mode,
                exchange=exchange,
                api_key_encrypted=encrypt_secret(api_key) if api_key else "",
                api_secret_encrypted=encrypt_secret(api_secret) if api_secret else "",
            )
    except IntegrityError:
        raise Conflict(f"you already have an account named {name!r}.", field="name") from None
