"""X-Request-ID: every request gets an id (the caller's, if it sent a sane one), bound to the
log context for the request's duration and echoed on the response, so one id follows a
request through the web process, its logs and the Celery tasks it queues."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core.logcontext import bind, bind_request, unbind, unbind_request

HEADER = "X-Request-ID"
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(request: HttpRequest) -> str:
    """The caller's id when it is short and plain (never trust arbitrary text in logs)."""
    offered = request.headers.get(HEADER, "")
    return offered if _ACCEPTED.match(offered) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        token, request_token = bind(request_id=request_id), bind_request(request)
        try:
            response = self.get_response(request)
        finally:
            unbind_request(request_token)
            unbind(token)
        response[HEADER] = request_id
        return response
