"""Backtest API shapes. Decimals travel as strings; JSON numbers are accepted on input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.backtest.models import BacktestEquityPoint, BacktestFill, BacktestOrder, BacktestRun
from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS
from apps.strategy.configs import StrategyKind


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


class BacktestInputSerializer(serializers.Serializer):
    strategy = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Your strategy's id (its config and kind are used unless `config` is given).",
    )
    kind = serializers.ChoiceField(choices=[k.value for k in StrategyKind], required=False)
    config = serializers.JSONField(
        required=False, help_text="A strategy config of `kind` (see /strategies/)."
    )
    symbol = serializers.CharField(max_length=32)
    interval = serializers.CharField(max_length=3)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    maker_fee = _decimal(required=False, default=Decimal("0.001"), min_value=Decimal(0))
    taker_fee = _decimal(required=False, default=Decimal("0.001"), min_value=Decimal(0))
    slippage_bps = _decimal(required=False, default=Decimal(0), min_value=Decimal(0))
    initial_balance = _decimal(required=False, default=Decimal(10000), min_value=Decimal("0.00000001"))

    def validate_config(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("config must be a JSON object.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "strategy" not in attrs and ("kind" not in attrs or "config" not in attrs):
            field = "kind" if "kind" not in attrs else "config"
            raise serializers.ValidationError({field: "give `strategy`, or `kind` and `config`."})
        return attrs


class BacktestOutputSerializer(serializers.ModelSerializer):
    fingerprint = serializers.SerializerMethodField()

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "status",
            "progress",
            "error",
            "strategy_id",
            "kind",
            "config",
            "symbol",
            "interval",
            "start",
            "end",
            "filters",
            "maker_fee",
            "taker_fee",
            "slippage_bps",
            "initial_balance",
            "candle_count",
            "metrics",
            "timings",
            "fingerprint",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_fingerprint(self, run: BacktestRun) -> dict[str, str]:
        return {"config": run.config_hash, "data": run.data_hash, "result": run.result_digest}


class BacktestOrderOutputSerializer(serializers.ModelSerializer):
    fills = serializers.SerializerMethodField()

    class Meta:
        model = BacktestOrder
        fields = [
            "id",
            "order_no",
            "client_order_id",
            "tag",
            "side",
            "order_type",
            "quantity",
            "price",
            "status",
            "executed_quantity",
            "cumulative_quote",
            "created_at",
            "updated_at",
            "reject_reason",
            "fills",
        ]

    def get_fills(self, order: BacktestOrder) -> Any:
        fills = self.context.get("fills", {}).get(order.order_no, [])
        return BacktestFillOutputSerializer(fills, many=True).data


class BacktestFillOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestFill
        fields = [
            "trade_no",
            "order_no",
            "client_order_id",
            "side",
            "price",
            "quantity",
            "quote_quantity",
            "commission",
            "commission_asset",
            "is_maker",
            "executed_at",
        ]


class BacktestEquityOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestEquityPoint
        fields = ["time", "equity", "base_balance", "quote_balance"]
