from django.urls import path

from .views import (
    InvalidateApprovalsView,
    KillSwitchActivateView,
    KillSwitchDeactivateView,
    KillSwitchHistoryView,
    KillSwitchView,
    LimitsView,
    ValidateView,
)

urlpatterns = [
    path("risk/limits/", LimitsView.as_view(), name="risk-limits"),
    path("risk/validate/", ValidateView.as_view(), name="risk-validate"),
    path("risk/approvals/invalidate/", InvalidateApprovalsView.as_view(), name="risk-approvals-invalidate"),
    path("kill-switch/", KillSwitchView.as_view(), name="kill-switch"),
    path("kill-switch/activate/", KillSwitchActivateView.as_view(), name="kill-switch-activate"),
    path("kill-switch/deactivate/", KillSwitchDeactivateView.as_view(), name="kill-switch-deactivate"),
    path("kill-switch/history/", KillSwitchHistoryView.as_view(), name="kill-switch-history"),
]
