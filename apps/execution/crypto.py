"""Encryption at rest for exchange API credentials (Fernet; several keys allow rotation).

Keys come from FIELD_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first). Outside
production a key is derived from SECRET_KEY so development needs no setup; production
settings refuse to start without FIELD_ENCRYPTION_KEYS.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = base64.urlsafe_b64encode(hashlib.sha256(f"field-encryption:{secret_key}".encode()).digest())
        keys = (derived.decode(),)
    return MultiFernet([Fernet(k.encode()) for k in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_secret(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _current().decrypt(token.encode()).decode()
