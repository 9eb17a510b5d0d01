"""Whole model rows by a fixed WHERE clause, the SQL written once.

Why: Django compiles a queryset's SQL again on every evaluation. For a one-row lookup by key
on a hot path that compilation is most of the cost — measured on the order intake's account
lookup, 0.48 ms of CPU through the ORM against 0.14 ms with the SQL kept (the round trip
itself is the same). `RowQuery` keeps the statement and turns rows into model instances the
way the ORM does (`Model.from_db`, with every field's database converters), so the instance
is the one the ORM would have returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

M = TypeVar("M", bound=Model)


class RowQuery(Generic[M]):
    """`SELECT <every concrete column> FROM <table> WHERE <where>`; `where` uses column
    names and `%s` placeholders, e.g. `'"id" = %s AND "owner_id" = %s'`."""

    def __init__(self, model: type[M], where: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
        connection = connections[using]
        quote = connection.ops.quote_name
        meta = model._meta
        self.fields = list(meta.concrete_fields)
        self.model, self.using = model, using
        self.attnames = [f.attname for f in self.fields]
        columns = ", ".join(quote(f.column) for f in self.fields)
        self.sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {where}"  # noqa: S608 - model metadata
        self._converters: list[tuple[int, list[Callable[..., Any]], Any]] | None = None

    def first(self, *params: Any) -> M | None:
        """The first matching row (the WHERE should select at most one), or None."""
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, converters, column in self._converters_for(connection):
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(self.using, self.attnames, values)

    def _converters_for(self, connection: Any) -> list[tuple[int, list[Callable[..., Any]], Any]]:
        """Per column, the backend's and the field's converters, as the SQL compiler lists them."""
        if self._converters is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if converters:
                    found.append((index, converters, column))
            self._converters = found
        return self._converters
