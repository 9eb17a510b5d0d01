"""Everything under /api/v1/. Each app contributes its own `api/urls.py`."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.execution.api.urls")),
    path("", include("apps.risk.api.urls")),
    path("portfolio/", include("apps.portfolio.api.urls")),
    path("", include("apps.candles.api.urls")),
    path("", include("apps.strategy.api.urls")),
    path("", include("apps.backtest.api.urls")),
]
