from __future__ import annotations

from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from apps.candles.intervals import Interval
from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS
from apps.strategy.configs import StrategyKind
from apps.strategy.models import Strategy, StrategyEvent

KIND_CHOICES = [(k.value, k.value) for k in StrategyKind]
SYMBOL = r"^[A-Za-z0-9]{2,20}$"


def _config() -> serializers.JSONField:
    """The raw config; validated by parse_config (errors with JSON paths), not by DRF."""
    return serializers.JSONField(
        encoder=DjangoJSONEncoder, help_text="Config of the kind; see docs/strategies.md."
    )


class StrategyInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    symbol = serializers.RegexField(SYMBOL)
    interval = serializers.ChoiceField(choices=Interval.choices)
    config = _config()


class StrategyUpdateSerializer(serializers.Serializer):
    """PATCH: any subset; PUT: every field. `version` (or If-Match) is the version you read."""

    version = serializers.IntegerField(min_value=1, required=False)
    account = serializers.IntegerField(min_value=1)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    symbol = serializers.RegexField(SYMBOL)
    interval = serializers.ChoiceField(choices=Interval.choices)
    config = _config()


class StrategyOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")

    class Meta:
        model = Strategy
        fields = (
            "id", "account", "name", "kind", "symbol", "interval", "config", "status", "version",
            "state", "last_step_at", "last_error", "consecutive_failures", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class StrategyEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyEvent
        fields = ("id", "from_status", "to_status", "reason", "actor", "details", "created_at")
        read_only_fields = fields


class StrategyValidateInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    symbol = serializers.RegexField(SYMBOL)
    interval = serializers.ChoiceField(choices=Interval.choices, default="1h")
    config = _config()
    reference_price = serializers.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        min_value=Decimal("1e-18"),
        required=False,
        allow_null=True,
        help_text="Entry price for the preflight; default: the close of the latest closed candle.",
    )
    account = serializers.IntegerField(
        min_value=1, required=False, help_text="Whose exchange's filters to use."
    )


class PreflightProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class PlannedOrderSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["base", "safety", "level", "entry"])
    index = serializers.IntegerField()
    side = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    quantity = serializers.CharField()
    notional = serializers.CharField()
    deviation_pct = serializers.CharField(allow_null=True)
    accepted = serializers.BooleanField()
    problem = PreflightProblemSerializer(allow_null=True)


class PreflightSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    symbol = serializers.CharField()
    reference_price = serializers.CharField(allow_null=True)
    reference_source = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField(), allow_null=True)
    total_capital_quote = serializers.CharField()
    summary = serializers.DictField(child=serializers.CharField(allow_null=True))
    orders = PlannedOrderSerializer(many=True)
    rejected = PlannedOrderSerializer(many=True)
    problems = PreflightProblemSerializer(many=True)


class StrategyValidateOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    config = serializers.JSONField()
    preflight = PreflightSerializer()


class StrategyStopInputSerializer(serializers.Serializer):
    cancel_open_orders = serializers.BooleanField(default=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StrategyReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
