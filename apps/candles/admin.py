"""Operators' view of stored candles: read-only (imports write them; an edit here would make a
series disagree with its source). Deleting is allowed, to remove a bad import."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.candles.models import Candle


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin[Candle]):
    list_display = ("symbol", "interval", "open_time", "open", "high", "low", "close", "volume", "close_time")
    list_filter = ("symbol", "interval")
    search_fields = ("=symbol",)
    ordering = ("symbol", "interval", "-open_time")
    readonly_fields = list_display
    list_per_page = 100
    #: Counting a series of millions of rows on every page is slow; the pager does not need it.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Candle | None = None) -> bool:
        return False
