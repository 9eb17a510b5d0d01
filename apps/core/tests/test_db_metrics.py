"""The database backend (apps/core/db) counts what django-prometheus's backend counts, on real
PostgreSQL: statements, bulk statements, durations, errors by type, connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection, connections
from django_prometheus.db.common import ExportingCursorWrapper
from django_prometheus.db.metrics import (
    connections_total,
    errors_total,
    execute_many_total,
    execute_total,
    query_duration_seconds,
)

from apps.core.db.base import DatabaseWrapper, metered_cursor


def _metrics() -> dict[str, float]:
    labels = ("default", "postgresql")
    histogram = {s.name: s.value for s in query_duration_seconds.labels(*labels).collect()[0].samples}
    return {
        "execute": execute_total.labels(*labels)._value.get(),
        "execute_many": execute_many_total.labels(*labels)._value.get(),
        "errors": errors_total.labels("default", "postgresql", "UndefinedTable")._value.get(),
        "durations": histogram["django_db_query_duration_seconds_count"],
    }


def _work(cursor: Any) -> None:
    cursor.execute("SELECT 1")
    cursor.executemany("SELECT %s", [(1,), (2,), (3,)])
    with pytest.raises(psycopg.errors.UndefinedTable):
        cursor.execute("SELECT * FROM no_such_table_for_metrics")


def _delta(work: Callable[[], None]) -> dict[str, float]:
    before = _metrics()
    work()
    after = _metrics()
    return {name: after[name] - before[name] for name in before}


@pytest.mark.django_db
def test_the_same_metrics_as_django_prometheus_cursor() -> None:
    connection.ensure_connection()
    raw = connection.connection
    base_class = psycopg.ClientCursor
    theirs = ExportingCursorWrapper(base_class, "default", "postgresql")
    ours = metered_cursor(base_class, "default", "postgresql")

    def run(cursor_class: type[Any]) -> Callable[[], None]:
        def work() -> None:
            with raw.transaction(), cursor_class(raw) as cursor:
                _work(cursor)
                raise _Rollback

        def guarded() -> None:
            with pytest.raises(_Rollback):
                work()

        return guarded

    expected = _delta(run(theirs))
    assert expected == {"execute": 5, "execute_many": 3, "errors": 1, "durations": 3}
    assert _delta(run(ours)) == expected


class _Rollback(Exception):
    pass


@pytest.mark.django_db
def test_django_uses_this_backend_and_counts_its_statements() -> None:
    assert isinstance(connections["default"], DatabaseWrapper)
    connection.ensure_connection()
    assert type(connection.connection.cursor()).__name__.startswith("Metered")
    delta = _delta(lambda: connection.cursor().execute("SELECT 1"))
    assert delta["execute"] == 1
    assert delta["durations"] == 1


@pytest.mark.django_db
def test_a_new_connection_is_counted() -> None:
    before = connections_total.labels("default", "postgresql")._value.get()
    connection.ensure_connection()
    fresh = connection.get_new_connection(connection.get_connection_params())
    fresh.close()
    assert connections_total.labels("default", "postgresql")._value.get() == before + 1
