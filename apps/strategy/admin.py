"""Operators: strategies with their status history, and lifecycle actions through services.

Definitions are created and edited through the API (where configs are validated with JSON
paths); here every field is read-only and status changes go through the same services
(same transition table, preconditions and events) as the API.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.errors import ApplicationError
from apps.strategy import services
from apps.strategy.models import Strategy, StrategyEvent


class StrategyEventInline(admin.TabularInline[StrategyEvent, Strategy]):
    model = StrategyEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "actor", "reason", "details")
    readonly_fields = fields
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest, obj: Strategy | None = None) -> bool:
        return False


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin[Strategy]):
    list_display = (
        "id",
        "name",
        "owner",
        "account",
        "kind",
        "symbol",
        "interval",
        "status",
        "version",
        "last_step_at",
    )
    list_filter = ("status", "kind", "interval")
    search_fields = ("name", "symbol", "owner__username")
    readonly_fields = (
        "owner", "account", "name", "kind", "symbol", "interval", "config", "status", "version", "state",
        "last_step_at", "last_error", "consecutive_failures", "created_at", "updated_at",
    )  # fmt: skip
    inlines = (StrategyEventInline,)
    actions = ("start", "pause", "stop_and_cancel", "stop_keep_orders")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Strategy | None = None) -> bool:
        return False

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Strategy],
        verb: str,
        change: Callable[[int, str], object],
    ) -> None:
        actor = f"admin:{request.user.pk}"
        done = 0
        for strategy_id in queryset.values_list("pk", flat=True):
            try:
                change(strategy_id, actor)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"strategy {strategy_id}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(
                request, f"{done} strateg{'y' if done == 1 else 'ies'} {verb}.", messages.SUCCESS
            )

    @admin.action(description="Start / resume (checks preconditions)")
    def start(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, "started", lambda i, a: services.start_strategy(strategy_id=i, actor=a))

    @admin.action(description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(request, queryset, "paused", lambda i, a: services.pause_strategy(strategy_id=i, actor=a))

    @admin.action(description="Stop and cancel open orders")
    def stop_and_cancel(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(
            request,
            queryset,
            "stopped",
            lambda i, a: services.stop_strategy(strategy_id=i, actor=a, cancel_open_orders=True),
        )

    @admin.action(description="Stop, keep open orders")
    def stop_keep_orders(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._each(
            request,
            queryset,
            "stopped",
            lambda i, a: services.stop_strategy(strategy_id=i, actor=a, cancel_open_orders=False),
        )
