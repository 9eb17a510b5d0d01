"""OpenAPI: every operation documents the one error shape and the error codes it can answer.

A drf-spectacular postprocessing hook adds an `Error` component and, to every operation,
the responses every endpoint can give (400 invalid input, 401, 403, 404, 429) plus the ones a
view declares in its own `extend_schema` (409, 422, 503 …) — all with the `Error` schema —
and lists the stable error codes (apps.core.errors.ErrorCode) in the component.
"""

from __future__ import annotations

import importlib
from typing import Any

from apps.core.errors import ErrorCode

COMMON = {
    "400": "Invalid input: `error.field` names the field at fault, `error.fields` every one.",
    "401": "Not authenticated (JWT `Authorization: Bearer …` or a session).",
    "403": "Authenticated but not allowed (e.g. staff-only).",
    "404": "Not found — or not yours: other users' objects are never revealed.",
    "429": "Rate limited; retry after `Retry-After` seconds.",
}
PUBLIC_PATHS = ("/health/", "/api/v1/auth/token/")
# Public, but answering 401 all the same: wrong credentials, or a bad refresh token.
CREDENTIAL_PATHS = ("/api/v1/auth/token/",)
CREDENTIALS_401 = "Wrong credentials, or an invalid or expired refresh token."

# Where field-validation codes come from: DRF's serializer fields and validators, Django's
# form fields (django-filter's query parameters) and validators. Listed from these modules
# only, so the schema does not depend on what else happens to be imported.
_FIELD_CODE_MODULES = (
    "rest_framework.fields",
    "rest_framework.relations",
    "rest_framework.serializers",
    "rest_framework.validators",
    "django.forms.fields",
    "django.core.validators",
    "django_filters.fields",
)


def field_validation_codes() -> list[str]:
    """Every code a field's validation can give `error.code` (besides ErrorCode's own):
    `required`, `blank`, `invalid_choice`, `min_value`, …, sorted."""
    codes: set[str] = set()
    for module_name in _FIELD_CODE_MODULES:
        for value in vars(importlib.import_module(module_name)).values():
            if not isinstance(value, type):
                continue
            for attribute in ("default_error_messages", "messages"):  # dicts keyed by code
                if isinstance(messages := getattr(value, attribute, None), dict):
                    codes.update(messages)
            if isinstance(code := getattr(value, "code", None), str):
                codes.add(code)
    return sorted(codes - {c.value for c in ErrorCode})


def error_component() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": [c.value for c in ErrorCode] + field_validation_codes(),
                        "description": "Stable, never renamed: the application's codes first, then "
                        "the codes of field validation (`required`, `blank`, `invalid_choice`, …).",
                    },
                    "message": {"type": "string"},
                    "field": {"type": "string", "nullable": True},
                    "fields": {"type": "object", "additionalProperties": True},
                    "details": {"type": "object", "additionalProperties": True},
                },
            }
        },
    }


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = error_component()
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in COMMON.items():
                if status in ("401", "403") and path.startswith(PUBLIC_PATHS):
                    continue
                responses.setdefault(status, {"description": description})
            if path.startswith(CREDENTIAL_PATHS):
                responses.setdefault("401", {"description": CREDENTIALS_401})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = ref
    return result
