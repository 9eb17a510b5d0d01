"""Operators' view of the books: read-only history, one action (request cancellation)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.errors import ApplicationError
from apps.execution import services
from apps.execution.models import ExchangeAccount, Fill, Order, OrderEvent, OutboxEvent, ReconciliationRun


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline[OrderEvent, Order]):
    model = OrderEvent
    fields = ("created_at", "kind", "from_status", "to_status", "payload")
    readonly_fields = fields
    extra = 0
    ordering = ("id",)


class FillInline(ReadOnlyAdminMixin, admin.TabularInline[Fill, Order]):
    model = Fill
    fields = (
        "exchange_fill_id",
        "executed_at",
        "price",
        "quantity",
        "quote_quantity",
        "commission",
        "commission_asset",
        "is_maker",
    )
    readonly_fields = fields
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Order]):
    list_display = (
        "id",
        "client_order_id",
        "account",
        "symbol",
        "side",
        "order_type",
        "quantity",
        "price",
        "status",
        "filled_quantity",
        "created_at",
    )
    list_filter = ("status", "symbol", "side", "account", "created_at")
    search_fields = ("client_order_id", "exchange_order_id")
    date_hierarchy = "created_at"
    list_select_related = ("account",)
    inlines = (OrderEventInline, FillInline)
    actions = ("request_cancellation",)

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        return [f.name for f in Order._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Needed for the detail page to render; every field is read-only.
        return request.user.is_staff

    @admin.action(description="Request cancellation of the selected orders")
    def request_cancellation(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        done, refused = 0, []
        for order in queryset:
            try:
                services.request_cancel(order_id=order.pk, requested_by=f"admin:{request.user.pk}")
                done += 1
            except ApplicationError as exc:
                refused.append(f"{order.client_order_id}: {exc.message}")
        if done:
            self.message_user(request, f"Cancellation requested for {done} order(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Fill]):
    list_display = (
        "id",
        "symbol",
        "exchange_fill_id",
        "order",
        "price",
        "quantity",
        "commission",
        "commission_asset",
        "executed_at",
    )
    list_filter = ("symbol", "account", "is_maker", "executed_at")
    search_fields = ("exchange_fill_id", "order__client_order_id")
    list_select_related = ("order",)


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin[ExchangeAccount]):
    list_display = ("id", "name", "owner", "exchange", "mode", "is_active", "created_at")
    list_filter = ("exchange", "mode", "is_active")
    search_fields = ("name", "owner__username")
    # Credentials are set through the API only; never shown, even encrypted.
    exclude = ("api_key_encrypted", "api_secret_encrypted")
    readonly_fields = ("owner", "exchange", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[OutboxEvent]):
    list_display = (
        "id",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "created_at",
        "published_at",
        "attempts",
    )
    list_filter = ("event_type", "aggregate_type", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("aggregate_id",)
    readonly_fields = (
        "aggregate_type",
        "aggregate_id",
        "event_type",
        "payload",
        "created_at",
        "published_at",
        "attempts",
        "next_attempt_at",
        "last_error",
    )


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[ReconciliationRun]):
    list_display = (
        "id",
        "account",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "orders_checked",
        "fills_repaired",
        "orders_resolved",
        "external_orders",
        "requests_made",
        "weight_used",
    )
    list_filter = ("status", "trigger", "account", "started_at")
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
