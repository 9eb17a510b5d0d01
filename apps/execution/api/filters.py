from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from apps.core.domain import OrderStatus, Side
from apps.execution.models import Fill, Order


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, converted to UTC. PostgreSQL refuses UTC offsets beyond ±15:59
    that ISO 8601 (and Python) allow, so the offset must not reach the query; an instant
    that has no UTC equivalent (year 1 at +01:00) is invalid input, not a server error."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of the supported date range.", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    symbol = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=Side.choices)
    strategy = django_filters.NumberFilter(field_name="strategy_id")
    account = django_filters.NumberFilter(field_name="account_id")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ("status", "symbol", "side", "strategy", "account", "created_after", "created_before")


class FillFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter()
    order = django_filters.NumberFilter(field_name="order_id")
    account = django_filters.NumberFilter(field_name="account_id")
    executed_after = UtcIsoDateTimeFilter(field_name="executed_at", lookup_expr="gte")
    executed_before = UtcIsoDateTimeFilter(field_name="executed_at", lookup_expr="lt")

    class Meta:
        model = Fill
        fields = ("symbol", "order", "account", "executed_after", "executed_before")
