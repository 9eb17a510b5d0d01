"""Backtests in the admin: read-only (runs are written by the engine only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import BacktestEquityPoint, BacktestFill, BacktestOrder, BacktestRun


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnly):
    list_display = (
        "id",
        "owner",
        "kind",
        "symbol",
        "interval",
        "start",
        "end",
        "status",
        "progress",
        "created_at",
    )
    list_filter = ("status", "kind", "interval")
    search_fields = ("symbol", "result_digest", "owner__username")
    readonly_fields = [f.name for f in BacktestRun._meta.fields]


@admin.register(BacktestOrder)
class BacktestOrderAdmin(ReadOnly):
    list_display = (
        "run",
        "order_no",
        "client_order_id",
        "tag",
        "side",
        "order_type",
        "quantity",
        "price",
        "status",
    )
    list_filter = ("status", "side", "order_type")
    search_fields = ("client_order_id", "tag")
    list_select_related = ("run",)


@admin.register(BacktestFill)
class BacktestFillAdmin(ReadOnly):
    list_display = (
        "run",
        "trade_no",
        "order_no",
        "side",
        "price",
        "quantity",
        "commission",
        "is_maker",
        "executed_at",
    )
    list_select_related = ("run",)


@admin.register(BacktestEquityPoint)
class BacktestEquityPointAdmin(ReadOnly):
    list_display = ("run", "time", "equity", "base_balance", "quote_balance")
    list_select_related = ("run",)
