"""Operators' view of positions, balances, marks and snapshots: read-only (they derive from fills
and venue reports; an edit here would be a silent overwrite of the books)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.portfolio.models import Balance, Mark, PnlSnapshot, Position, PositionUpdate


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PositionUpdateInline(ReadOnlyAdminMixin, admin.TabularInline[PositionUpdate, Position]):
    model = PositionUpdate
    fields = (
        "executed_at",
        "fill_id",
        "side",
        "quantity",
        "price",
        "commission",
        "commission_asset",
        "fee_quote",
        "fee_rate",
        "fee_rate_source",
        "realized_pnl",
        "quantity_after",
        "average_price_after",
        "version_after",
    )
    readonly_fields = fields
    extra = 0
    ordering = ("-id",)
    max_num = 0


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Position]):
    list_display = (
        "id",
        "account",
        "symbol",
        "quantity",
        "average_price",
        "realized_pnl",
        "fees_paid",
        "fees_complete",
        "version",
        "last_fill_at",
    )
    list_filter = ("symbol", "account")
    search_fields = ("symbol", "account__name")
    list_select_related = ("account",)
    inlines = (PositionUpdateInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Position | None = None) -> list[str]:
        return [f.name for f in Position._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_staff  # the detail page renders; every field is read-only

    @admin.display(boolean=True, description="fees complete")
    def fees_complete(self, obj: Position) -> bool:
        return obj.fees_complete


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Balance]):
    list_display = (
        "id",
        "account",
        "asset",
        "free",
        "locked",
        "reported_at",
        "derived_total",
        "drift",
        "report_source",
        "updated_at",
    )
    list_filter = ("asset", "account", "report_source")
    search_fields = ("asset", "account__name")
    list_select_related = ("account",)

    def get_readonly_fields(self, request: HttpRequest, obj: Balance | None = None) -> list[str]:
        return [f.name for f in Balance._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_staff


@admin.register(Mark)
class MarkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Mark]):
    list_display = ("exchange", "symbol", "price", "as_of", "source", "updated_at")
    list_filter = ("exchange", "source")
    search_fields = ("symbol",)


@admin.register(PnlSnapshot)
class PnlSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[PnlSnapshot]):
    list_display = ("date", "account", "net_pnl", "daily_net_pnl", "equity", "gross_exposure", "is_stale")
    list_filter = ("is_stale", "account", "date")
    date_hierarchy = "date"
    list_select_related = ("account",)
