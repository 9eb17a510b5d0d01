"""Test support shared by several apps' suites (imported by tests only)."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def url_of_test_database() -> str:
    """The pytest-django test database as a DATABASE_URL, for the real processes a test starts
    (Celery workers, the demo stack, the soak): they must write where the test reads."""
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    host_part = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}@{host_part}{port}/{db['NAME']}"
