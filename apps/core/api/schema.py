"""OpenAPI: every operation documents the one error shape and the error codes it can answer.

A drf-spectacular postprocessing hook adds an `Error` component and, to every operation,
the responses every endpoint can give (400 invalid input, 401, 403, 404, 429) plus the ones a
view declares in its own `extend_schema` (409, 422, 503 …) — all with the `Error` schema —
and lists the stable error codes (apps.core.errors.ErrorCode) in the component.
"""

from __future__ import annotations

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


def error_component() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
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
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = ref
    return result
