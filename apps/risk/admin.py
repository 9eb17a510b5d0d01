"""Operators: limits, the kill switch (state, activate/deactivate with a reason), its audit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.risk import services
from apps.risk.models import KillSwitchChange, RiskLimits


@admin.register(RiskLimits)
class RiskLimitsAdmin(admin.ModelAdmin[RiskLimits]):
    list_display = (
        "account",
        "symbol",
        "max_order_notional",
        "max_symbol_exposure",
        "max_total_exposure",
        "version",
    )
    list_filter = ("account",)
    readonly_fields = ("version", "updated_at", "updated_by")
    actions = ("invalidate_cached_approvals",)

    def save_model(self, request: HttpRequest, obj: RiskLimits, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data.get(name) for name in services.LIMIT_FIELDS}
        services.set_limits(
            account_id=obj.account_id,
            symbol=obj.symbol,
            expected_version=form.initial.get("version", 0) if change else 0,
            values=values,
            actor=f"admin:{request.user.pk}",
            replace=True,
        )

    @admin.action(description="Invalidate cached approvals of these accounts")
    def invalidate_cached_approvals(self, request: HttpRequest, queryset: QuerySet[RiskLimits]) -> None:
        for account_id in set(queryset.values_list("account_id", flat=True)):
            services.invalidate_approvals(account_id=account_id)
        self.message_user(request, "Cached approvals invalidated.", messages.SUCCESS)


class KillSwitchForm(forms.Form):
    reason = forms.CharField(max_length=500)
    cancel_open_orders = forms.BooleanField(required=False)


@admin.register(KillSwitchChange)
class KillSwitchChangeAdmin(admin.ModelAdmin[KillSwitchChange]):
    """The audit list, with the current state on top and a form to change it."""

    list_display = ("created_at", "active", "actor", "automatic", "reason")
    list_filter = ("active", "automatic")
    change_list_template = "admin/risk/killswitch_changelist.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path("toggle/", self.admin_site.admin_view(self.toggle_view), name="risk_killswitch_toggle"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "kill_switch": services.kill_switch_state(),
            "form": KillSwitchForm(),
        }
        return super().changelist_view(request, extra_context=context)

    def toggle_view(self, request: HttpRequest) -> HttpResponse:
        form = KillSwitchForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and request.user.is_staff:
            actor = f"admin:{request.user.get_username()}"
            if request.POST.get("activate"):
                services.activate_kill_switch(
                    reason=form.cleaned_data["reason"],
                    actor=actor,
                    cancel_open_orders=form.cleaned_data["cancel_open_orders"],
                )
                self.message_user(request, "Kill switch ON: no new orders.", messages.WARNING)
            else:
                services.deactivate_kill_switch(reason=form.cleaned_data["reason"], actor=actor)
                self.message_user(request, "Kill switch off.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:risk_killswitchchange_changelist"))
        return TemplateResponse(request, "admin/risk/killswitch_changelist.html", {"form": form})
