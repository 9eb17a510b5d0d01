from __future__ import annotations

from datetime import timedelta

from rest_framework import serializers

from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS

MAX_HISTORY_DAYS = 366


def _decimal(**kwargs: object) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)  # type: ignore[arg-type]


# --- input (query parameters) --------------------------------------------------------------------


class AccountQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(min_value=1, required=False, help_text="Only this account.")


class PositionsQuerySerializer(AccountQuerySerializer):
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,32}$", required=False)
    include_flat = serializers.BooleanField(
        required=False, default=True, help_text="Include positions whose quantity is zero."
    )


class HistoryQuerySerializer(AccountQuerySerializer):
    since = serializers.DateField(
        required=False, help_text="First day (UTC); default: 30 days before `until`."
    )
    until = serializers.DateField(required=False, help_text="Last day (UTC); default: today.")

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until:
            if since > until:
                raise serializers.ValidationError({"since": "since must not be after until."})
            if until - since > timedelta(days=MAX_HISTORY_DAYS):
                raise serializers.ValidationError({"since": f"at most {MAX_HISTORY_DAYS} days at once."})
        return attrs


# --- output -------------------------------------------------------------------------------------------


class FreshnessFields(serializers.Serializer):
    """`is_stale`, `data_as_of` and why, read from the object's `freshness`."""

    is_stale = serializers.BooleanField(source="freshness.is_stale")
    data_as_of = serializers.DateTimeField(source="freshness.data_as_of", allow_null=True)
    stale_reasons = serializers.ListField(child=serializers.CharField(), source="freshness.stale_reasons")


class PositionOutputSerializer(FreshnessFields):
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField()
    base_asset = serializers.CharField()
    quote_asset = serializers.CharField()
    quantity = _decimal()
    average_price = _decimal(allow_null=True)
    cost_basis = _decimal()
    realized_pnl = _decimal()
    fees_paid = _decimal(help_text="Commission converted to the quote asset.")
    fees_complete = serializers.BooleanField(help_text="False when some commission could not be converted.")
    unconverted_fees = serializers.DictField(
        child=_decimal(), help_text="Commission per asset, not converted."
    )
    mark_price = _decimal(allow_null=True)
    mark_as_of = serializers.DateTimeField(allow_null=True)
    market_value = _decimal(allow_null=True)
    unrealized_pnl = _decimal(allow_null=True)
    net_pnl = _decimal(allow_null=True, help_text="realized + unrealized - fees_paid (quote asset).")
    version = serializers.IntegerField()
    last_fill_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class PositionsResponseSerializer(FreshnessFields):
    results = PositionOutputSerializer(many=True)


class BalanceOutputSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    asset = serializers.CharField()
    free = _decimal(allow_null=True)
    locked = _decimal(allow_null=True)
    reported_total = _decimal(allow_null=True)
    reported_at = serializers.DateTimeField(allow_null=True)
    report_source = serializers.CharField()
    derived_total = _decimal(help_text="Last reported total plus the fills executed since.")
    unconfirmed_change = _decimal(allow_null=True, help_text="derived_total - reported_total.")
    drift = _decimal(
        allow_null=True,
        help_text="At the last report: reported total - (previous report + fills in between).",
    )
    drift_since = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class BalancesResponseSerializer(FreshnessFields):
    results = BalanceOutputSerializer(many=True)


class SymbolPnlOutputSerializer(FreshnessFields):
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField()
    quote_asset = serializers.CharField()
    quantity = _decimal()
    realized_pnl = _decimal()
    unrealized_pnl = _decimal(allow_null=True)
    fees_paid = _decimal()
    unconverted_fees = serializers.DictField(child=_decimal())
    net_pnl = _decimal(allow_null=True)
    exposure = _decimal(allow_null=True)
    valuation_rate = _decimal(
        allow_null=True, help_text="One unit of the quote asset in the valuation asset."
    )


class PnlTotalsOutputSerializer(serializers.Serializer):
    valuation_asset = serializers.CharField()
    realized_pnl = _decimal()
    unrealized_pnl = _decimal()
    fees = _decimal()
    net_pnl = _decimal()
    gross_exposure = _decimal()
    net_exposure = _decimal()
    equity = _decimal(allow_null=True, help_text="Derived balances valued at the marks; null if unknown.")
    unvalued = serializers.ListField(
        child=serializers.CharField(), help_text="Symbols left out of the totals."
    )
    unconverted_fees = serializers.DictField(child=_decimal())


class PnlResponseSerializer(FreshnessFields):
    symbols = SymbolPnlOutputSerializer(many=True)
    totals = PnlTotalsOutputSerializer()


class PnlSnapshotOutputSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    date = serializers.DateField()
    valuation_asset = serializers.CharField()
    realized_pnl = _decimal()
    unrealized_pnl = _decimal()
    fees = _decimal()
    net_pnl = _decimal()
    daily_net_pnl = _decimal(allow_null=True)
    equity = _decimal(allow_null=True)
    gross_exposure = _decimal()
    net_exposure = _decimal()
    is_stale = serializers.BooleanField()
    data_as_of = serializers.DateTimeField(allow_null=True)
    stale_reasons = serializers.ListField(child=serializers.CharField())
    taken_at = serializers.DateTimeField()


class PnlHistoryResponseSerializer(FreshnessFields):
    since = serializers.DateField()
    until = serializers.DateField()
    results = PnlSnapshotOutputSerializer(many=True)
