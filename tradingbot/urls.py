from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import views as core_views
from tradingbot.observability import dashboard, metrics

urlpatterns = [
    path("health/", core_views.liveness, name="health-live"),
    path("health/ready/", core_views.readiness, name="health-ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("ops/dashboard/", dashboard.dashboard, name="ops-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("tradingbot.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api-auth/", include("rest_framework.urls")),
]

# API paths answer Django's own errors in the API's JSON error shape (apps/core/api/error_views.py).
handler400 = "apps.core.api.error_views.bad_request"
handler404 = "apps.core.api.error_views.not_found"
handler500 = "apps.core.api.error_views.server_error"
