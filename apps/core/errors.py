"""The application's error tree. The API renders every one as
`{"error": {"code": ..., "message": ..., "field": ...}}` with the class's HTTP status.

Codes are a stable enum: clients branch on them, so never rename one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "invalid"
    PARSE_ERROR = "parse_error"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    VERSION_CONFLICT = "version_conflict"
    RATE_LIMITED = "rate_limited"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_REQUEST_IN_PROGRESS = "idempotency_request_in_progress"
    INVALID_DECIMAL = "invalid_decimal"
    FILTER_PRICE = "filter_price"
    FILTER_LOT_SIZE = "filter_lot_size"
    FILTER_MIN_NOTIONAL = "filter_min_notional"
    FILTER_MAX_NOTIONAL = "filter_max_notional"
    UNKNOWN_SYMBOL = "unknown_symbol"
    ILLEGAL_TRANSITION = "illegal_transition"
    CLIENT_ORDER_ID_CONFLICT = "client_order_id_conflict"
    ORDER_OVERFILLED = "order_overfilled"
    ACCOUNT_INACTIVE = "account_inactive"
    KILL_SWITCH_ACTIVE = "kill_switch_active"
    RISK_LIMIT_EXCEEDED = "risk_limit_exceeded"
    RISK_UNAVAILABLE = "risk_unavailable"
    INVALID_CONFIG = "invalid_config"
    STRATEGY_NOT_STARTABLE = "strategy_not_startable"
    DSL_SYNTAX_ERROR = "dsl_syntax_error"
    DSL_UNKNOWN_NAME = "dsl_unknown_name"
    DSL_ARITY = "dsl_arity"
    DSL_TYPE_ERROR = "dsl_type_error"
    DSL_INVALID_ARGUMENT = "dsl_invalid_argument"
    DSL_TOO_COMPLEX = "dsl_too_complex"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


class ApplicationError(Exception):
    """Base of every error the application raises on purpose."""

    status_code = 400
    default_code = ErrorCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.details = details or {}


class ValidationFailed(ApplicationError):
    status_code = 400
    default_code = ErrorCode.INVALID


class NotFound(ApplicationError):
    status_code = 404
    default_code = ErrorCode.NOT_FOUND


class Conflict(ApplicationError):
    status_code = 409
    default_code = ErrorCode.CONFLICT


class Unprocessable(ApplicationError):
    status_code = 422
    default_code = ErrorCode.INVALID


class ServiceUnavailable(ApplicationError):
    status_code = 503
    default_code = ErrorCode.SERVICE_UNAVAILABLE
