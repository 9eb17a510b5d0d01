from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from apps.candles import intervals
from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


class MomentField(serializers.DateTimeField):
    """ISO 8601 (UTC when no offset is given) or integer milliseconds since the epoch, as
    Binance clients write times."""

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str) and value.isdigit():
            return intervals.from_ms(int(value))
        return super().to_internal_value(value)


class CandleQuerySerializer(serializers.Serializer):
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,32}$", help_text="e.g. BTCUSDT")
    interval = serializers.ChoiceField(choices=intervals.Interval.choices)
    start = MomentField(required=False, help_text="First open time (inclusive).")
    end = MomentField(required=False, help_text="Last open time (exclusive).")
    limit = serializers.IntegerField(
        required=False, default=DEFAULT_LIMIT, min_value=1, max_value=MAX_LIMIT, help_text="Candles per page."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and end <= start:
            raise serializers.ValidationError({"end": "end must be after start."})
        return attrs


class CandleOutputSerializer(serializers.Serializer):
    open_time = serializers.DateTimeField()
    open = _decimal()
    high = _decimal()
    low = _decimal()
    close = _decimal()
    volume = _decimal()
    close_time = serializers.DateTimeField()


class CandlePageSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    interval = serializers.CharField()
    results = CandleOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page (same query, later start).")
    next_start = serializers.DateTimeField(allow_null=True)
