"""Decimal helpers. Money and quantities are Decimal end to end; floats never enter.

One project-wide precision: NUMERIC(38, 18) in the database (see `money_field`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.db import models

from .errors import ErrorCode, ValidationFailed

MAX_DIGITS = 38
DECIMAL_PLACES = 18
_MAX_INTEGER_DIGITS = MAX_DIGITS - DECIMAL_PLACES


def money_field(**kwargs: Any) -> models.DecimalField:
    """A DecimalField at the project-wide precision (NUMERIC(38, 18))."""
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def parse_decimal(value: object, *, field: str) -> Decimal:
    """Parse an exchange or client value into a finite Decimal that fits NUMERIC(38, 18).

    Strings and ints only: a float has already lost precision, so it is refused.
    """
    if isinstance(value, bool | float):
        raise ValidationFailed(
            f"{field} must be a decimal string, not a float.", code=ErrorCode.INVALID_DECIMAL, field=field
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationFailed(
                f"{field} is not a number.", code=ErrorCode.INVALID_DECIMAL, field=field
            ) from exc
    else:
        raise ValidationFailed(f"{field} is not a number.", code=ErrorCode.INVALID_DECIMAL, field=field)
    ensure_storable(result, field=field)
    return result


def ensure_storable(value: Decimal, *, field: str) -> None:
    """Refuse NaN, infinities and values that do not fit NUMERIC(38, 18) exactly."""
    if not value.is_finite():
        raise ValidationFailed(f"{field} must be finite.", code=ErrorCode.INVALID_DECIMAL, field=field)
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - finite values have int exponents
        raise ValidationFailed(f"{field} must be finite.", code=ErrorCode.INVALID_DECIMAL, field=field)
    decimals = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent)
    if decimals > DECIMAL_PLACES or integer_digits > _MAX_INTEGER_DIGITS:
        raise ValidationFailed(
            f"{field} has too many digits (at most {_MAX_INTEGER_DIGITS} before and "
            f"{DECIMAL_PLACES} after the point).",
            code=ErrorCode.INVALID_DECIMAL,
            field=field,
        )


def snap_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value` (steps need not be powers of ten)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(ROUND_DOWN) * step


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0
