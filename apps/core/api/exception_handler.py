"""The one exception handler: every error leaves the API as
`{"error": {"code", "message", "field", "fields"?}}`.

`code` is a stable machine-readable value (apps.core.errors.ErrorCode or DRF's own codes for
field validation); `field` names the first offending input field, `fields` lists them all.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError, ErrorCode

_DRF_CODES: dict[type[exceptions.APIException], ErrorCode] = {
    exceptions.ParseError: ErrorCode.PARSE_ERROR,
    exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.Throttled: ErrorCode.RATE_LIMITED,
}


def error_body(
    code: str, message: str, field: str | None = None, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": str(code), "message": message, "field": field}
    if fields:
        body["fields"] = fields
    return {"error": body}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        payload = error_body(exc.code, exc.message, exc.field)
        if exc.details:
            payload["error"]["details"] = exc.details
        return Response(payload, status=exc.status_code)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    if isinstance(exc, exceptions.ValidationError):
        field, code, message, fields = _first_field_error(exc.detail)
        response.data = error_body(code, message, field, fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response

    code = _DRF_CODES.get(type(exc)) or next(
        (c for t, c in _DRF_CODES.items() if isinstance(exc, t)), ErrorCode.INVALID
    )
    response.data = error_body(code, _message_of(exc.detail))
    return response


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str, dict[str, Any]]:
    """Flatten DRF's nested error detail into (first field, its code, its message, all fields)."""
    flat: dict[str, Any] = {}
    _flatten(detail, prefix, flat)
    if not flat:
        return None, ErrorCode.INVALID, "Invalid input.", {}
    first_field, errors = next(iter(flat.items()))
    first = errors[0]
    field = None if first_field in ("", "non_field_errors") else first_field
    return field, str(first["code"]), str(first["message"]), flat


def _flatten(detail: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(detail, list):
        if detail and all(isinstance(d, exceptions.ErrorDetail) for d in detail):
            out[prefix] = [{"code": d.code, "message": str(d)} for d in detail]
        else:
            for i, item in enumerate(detail):
                _flatten(item, f"{prefix}[{i}]" if prefix else str(i), out)
    elif isinstance(detail, exceptions.ErrorDetail):
        out[prefix] = [{"code": detail.code, "message": str(detail)}]


def _message_of(detail: Any) -> str:
    if isinstance(detail, dict):
        return " ".join(_message_of(v) for v in detail.values())
    if isinstance(detail, list):
        return " ".join(_message_of(v) for v in detail)
    return str(detail)
