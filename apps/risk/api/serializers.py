from __future__ import annotations

from rest_framework import serializers

from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS
from apps.core.domain import OrderType, Side
from apps.risk.models import KillSwitchChange, RiskLimits


def _limit() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, required=False, allow_null=True, min_value=0
    )


class LimitsInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,32}$", required=False, allow_blank=True, default="")
    version = serializers.IntegerField(
        min_value=0, required=False, help_text="The version you read (or If-Match)."
    )
    max_position_size = _limit()
    max_symbol_exposure = _limit()
    max_total_exposure = _limit()
    max_order_notional = _limit()
    max_open_orders = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    max_daily_loss = _limit()


class LimitsOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")

    class Meta:
        model = RiskLimits
        fields = (
            "id", "account", "symbol", "max_position_size", "max_symbol_exposure", "max_total_exposure",
            "max_order_notional", "max_open_orders", "max_daily_loss", "version", "updated_at", "updated_by",
        )  # fmt: skip
        read_only_fields = fields


class ValidateInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,32}$")
    side = serializers.ChoiceField(choices=Side.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    quantity = serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, min_value=0)
    price = serializers.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, required=False, allow_null=True, min_value=0
    )


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    limit = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True)


class ApprovalOutputSerializer(serializers.Serializer):
    approved = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)
    limits_version = serializers.CharField()
    checked_at = serializers.DateTimeField()
    cached = serializers.BooleanField()


class AccountInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)


class KillSwitchInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    cancel_open_orders = serializers.BooleanField(default=False)


class KillSwitchOutputSerializer(serializers.Serializer):
    active = serializers.BooleanField()
    reason = serializers.CharField()
    actor = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)
    readable = serializers.BooleanField()


class KillSwitchChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = KillSwitchChange
        fields = ("id", "active", "reason", "actor", "automatic", "created_at")
        read_only_fields = fields
