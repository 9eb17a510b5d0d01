from __future__ import annotations

import functools
from typing import Any

from rest_framework import serializers
from rest_framework.fields import Field

from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS
from apps.core.domain import OrderType, Side, TimeInForce
from apps.execution.models import ExchangeAccount, Fill, Order, OrderEvent


def _decimal(**kwargs: object) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)  # type: ignore[arg-type]


class OrderInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,32}$")
    side = serializers.ChoiceField(choices=Side.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    quantity = _decimal()
    price = _decimal(required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, required=False, allow_null=True)
    client_order_id = serializers.RegexField(r"^[A-Za-z0-9_-]{1,36}$", required=False)


class OrderOutputSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="order_type")
    account = serializers.IntegerField(source="account_id")

    class Meta:
        model = Order
        fields = (
            "id", "account", "symbol", "side", "type", "time_in_force", "quantity", "price",
            "client_order_id", "exchange_order_id", "status", "filled_quantity", "average_fill_price",
            "cumulative_quote", "fees", "strategy_id", "reject_reason", "version",
            "created_at", "updated_at", "submitted_at",
        )  # fmt: skip
        read_only_fields = fields


def validated_order_input(data: Any) -> dict[str, Any]:
    """OrderInputSerializer(data=data) validated, raising the same ValidationError, with the
    fields built once per process rather than per request (validation keeps no state)."""
    return dict(_order_input().run_validation(data))


def order_representation(order: Order) -> dict[str, Any]:
    """OrderOutputSerializer(order).data, from fields built once per process: the
    ModelSerializer rebuilds all twenty from the model on every call (most of its cost)."""
    return {name: _represent(field, order) for name, field in _order_output_fields().items()}


@functools.cache
def _order_input() -> OrderInputSerializer:
    return OrderInputSerializer()


@functools.cache
def _order_output_fields() -> dict[str, Field]:
    return dict(OrderOutputSerializer().fields)


def _represent(field: Field, instance: Any) -> Any:
    value = field.get_attribute(instance)
    return None if value is None else field.to_representation(value)


class OrderEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ("id", "kind", "from_status", "to_status", "payload", "created_at")
        read_only_fields = fields


class FillOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    order = serializers.IntegerField(source="order_id")

    class Meta:
        model = Fill
        fields = (
            "id", "account", "order", "symbol", "exchange_fill_id", "price", "quantity", "quote_quantity",
            "commission", "commission_asset", "is_maker", "executed_at",
        )  # fmt: skip
        read_only_fields = fields


class AccountInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    exchange = serializers.ChoiceField(choices=[("binance", "binance")], default="binance")
    mode = serializers.ChoiceField(choices=ExchangeAccount.Mode.choices)
    api_key = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=512)
    api_secret = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=512)


class AccountOutputSerializer(serializers.ModelSerializer):
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = ExchangeAccount
        fields = ("id", "name", "exchange", "mode", "is_active", "has_credentials", "created_at")
        read_only_fields = fields

    def get_has_credentials(self, account: ExchangeAccount) -> bool:
        return bool(account.api_key_encrypted and account.api_secret_encrypted)
