import django_filters

from apps.core.domain import OrderStatus, Side
from apps.execution.models import Fill, Order


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    symbol = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=Side.choices)
    strategy = django_filters.NumberFilter(field_name="strategy_id")
    account = django_filters.NumberFilter(field_name="account_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ("status", "symbol", "side", "strategy", "account", "created_after", "created_before")


class FillFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter()
    order = django_filters.NumberFilter(field_name="order_id")
    account = django_filters.NumberFilter(field_name="account_id")
    executed_after = django_filters.IsoDateTimeFilter(field_name="executed_at", lookup_expr="gte")
    executed_before = django_filters.IsoDateTimeFilter(field_name="executed_at", lookup_expr="lt")

    class Meta:
        model = Fill
        fields = ("symbol", "order", "account", "executed_after", "executed_before")
