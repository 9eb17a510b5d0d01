"""Django's own error pages (a URL that matches no route, an unhandled exception, a request
Django refuses before any view) for API paths: the API's one error shape, in JSON, instead of
an HTML page a client cannot parse. Other paths (admin, dashboard) keep Django's pages.

Installed as `handler400`, `handler404` and `handler500` in the root URL conf.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from apps.core.errors import ErrorCode

from .exception_handler import error_body

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.INVALID, "Bad request."), status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "No such resource."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 itself is still a bug (and logged by Django with its traceback)."""
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.INTERNAL_ERROR, "Internal server error."), status=500)
    return defaults.server_error(request)
