"""Decimal helpers. Money and quantities are Decimal end to end; floats never enter.

One project-wide precision: NUMERIC(38, 18) in the database (see `money_field`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation, Rounded, localcontext
from typing import Any

from django.db import models

from .errors import ErrorCode, ValidationFailed

MAX_DIGITS = 38
DECIMAL_PLACES = 18
_MAX_INTEGER_DIGITS = MAX_DIGITS - DECIMAL_PLACES
#: Quantizing to _FINEST under _PLACES_CHECK raises Rounded exactly when a non-zero value's
#: representation has more than DECIMAL_PLACES decimals (trailing zeros count, as in
#: `as_tuple`): quantize discards digits then and only then. MAX_DIGITS of precision holds
#: any value with at most _MAX_INTEGER_DIGITS integer digits at that exponent.
_FINEST = Decimal(1).scaleb(-DECIMAL_PLACES)
#: Room for sums of storable values and for scaling them by 10**DECIMAL_PLACES (or back)
#: without rounding; traps any rounding rather than hiding it.
STORABLE_ARITHMETIC = Context(prec=2 * MAX_DIGITS, traps=[Rounded, InvalidOperation])
_PLACES_CHECK = Context(prec=MAX_DIGITS, traps=[Rounded, InvalidOperation])
_ZERO = Decimal(0)


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
    """Refuse NaN, infinities and values that do not fit NUMERIC(38, 18) exactly.

    The representation decides, as the column's check would (1.0000000000000000000 has 19
    decimals): at most DECIMAL_PLACES digits after the point, at most _MAX_INTEGER_DIGITS
    before it. Checked with `adjusted()` and a trapping quantize rather than `as_tuple()`,
    which builds a tuple of every digit: this runs for every order quantity and price (API,
    strategies, the backtester's every fill)."""
    if not value.is_finite():
        raise ValidationFailed(f"{field} must be finite.", code=ErrorCode.INVALID_DECIMAL, field=field)
    # adjusted() + 1 is the count of integer digits (len(digits) + exponent), zero included.
    if value.adjusted() >= _MAX_INTEGER_DIGITS or _too_many_decimals(value):
        raise ValidationFailed(
            f"{field} has too many digits (at most {_MAX_INTEGER_DIGITS} before and "
            f"{DECIMAL_PLACES} after the point).",
            code=ErrorCode.INVALID_DECIMAL,
            field=field,
        )


def _too_many_decimals(value: Decimal) -> bool:
    """More than DECIMAL_PLACES digits after the point in `value`'s representation (its
    integer digits already checked)."""
    if not value:
        return value.adjusted() < -DECIMAL_PLACES  # a zero's one digit: adjusted() is its exponent
    try:
        value.quantize(_FINEST, None, _PLACES_CHECK)  # by position: parsing keywords costs more
    except Rounded:
        return True
    except InvalidOperation:
        # Rounding to 18 places carried into a 21st integer digit (99…9.99…95 with more than
        # 18 decimals): the result would not fit the context. Only a value that needs rounding
        # can get here (at most 18 decimals and 20 integer digits fit 38 digits exactly).
        return True
    return False


def snap_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value` (steps need not be powers of ten)."""
    if step <= _ZERO:  # a Decimal zero: comparing with an int converts it on every call
        return value
    return (value / step).to_integral_value(ROUND_DOWN) * step


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    return step <= _ZERO or value % step == _ZERO


def ratio_to_places(numerator: Decimal, denominator: Decimal) -> Decimal:
    """`numerator / denominator` rounded ONCE to DECIMAL_PLACES, half-even, exactly.

    Why not `(a / b).quantize(...)`: the division first rounds to the context's precision
    (28 digits by default), so the quantize rounds a second time — a quotient that lands on
    ...5 at the 19th decimal after the first rounding goes the wrong way (about one pair of
    fills in 270,000) — and a quotient of 11 or more integer digits cannot be quantized to 18
    places at 28 digits at all (InvalidOperation). Done in integers: both values have at most
    DECIMAL_PLACES decimals (storable), so scaling them is exact."""
    scale = 10**DECIMAL_PLACES
    with localcontext(STORABLE_ARITHMETIC):
        top, bottom = int(numerator.scaleb(DECIMAL_PLACES)), int(denominator.scaleb(DECIMAL_PLACES))
    if bottom == 0:
        raise ZeroDivisionError("ratio_to_places: zero denominator")
    sign = -1 if (top < 0) != (bottom < 0) else 1
    quotient, remainder = divmod(abs(top) * scale, abs(bottom))
    twice = 2 * remainder
    if twice > abs(bottom) or (twice == abs(bottom) and quotient % 2 == 1):
        quotient += 1
    with localcontext(STORABLE_ARITHMETIC):
        return Decimal(sign * quotient).scaleb(-DECIMAL_PLACES)
