"""RowQuery (apps/core/rows.py) on real PostgreSQL, with execution's models: the instance it
builds is the one the ORM returns, field by field, converters included; and the account
selector built on it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import models

from apps.core.errors import NotFound
from apps.core.rows import RowQuery
from apps.execution import selectors
from apps.execution.crypto import encrypt_secret
from apps.execution.models import ExchangeAccount, Order
from apps.execution.tests.factories import AccountFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _fields(instance: models.Model) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_an_account_row_is_the_orms_instance_field_by_field() -> None:
    account = AccountFactory.create(
        api_key_encrypted=encrypt_secret("key"), api_secret_encrypted=encrypt_secret("secret")
    )
    query = RowQuery(ExchangeAccount, where='"id" = %s AND "owner_id" = %s')

    found = query.first(account.pk, account.owner_id)

    orm = ExchangeAccount.objects.get(pk=account.pk)
    assert found is not None
    assert _fields(found) == _fields(orm)
    assert (found._state.adding, found._state.db) == (False, "default")
    assert found.created_at.tzinfo is not None


def test_decimal_and_json_columns_come_back_as_the_orm_converts_them() -> None:
    order = OrderFactory.create(price=Decimal("30000.10"), quantity=Decimal("0.001"))
    Order.objects.filter(pk=order.pk).update(fees={"BNB": "0.0001"}, filled_quantity=Decimal("0.0005"))

    found = RowQuery(Order, where='"id" = %s').first(order.pk)

    orm = Order.objects.get(pk=order.pk)
    assert found is not None
    assert _fields(found) == _fields(orm)
    assert found.fees == {"BNB": "0.0001"}
    assert isinstance(found.filled_quantity, Decimal)


def test_no_row_is_none() -> None:
    assert RowQuery(Order, where='"id" = %s').first(10**6) is None


def test_the_account_selector_answers_only_the_owner() -> None:
    account = AccountFactory.create()
    other = AccountFactory.create()

    assert selectors.get_account_for(account.owner, account.pk) == account
    for owner, account_id in ((other.owner, account.pk), (account.owner, 10**20), (account.owner, 0)):
        with pytest.raises(NotFound):
            selectors.get_account_for(owner, account_id)
