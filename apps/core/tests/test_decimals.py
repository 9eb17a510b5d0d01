"""`ensure_storable` checks a value's representation without `as_tuple()`: the same verdict,
error and message as the tuple-based check it replaced (kept here as the oracle), on values
far beyond what orders carry (huge and tiny exponents, long coefficients, trailing zeros,
zeros with any exponent, signs, NaN and infinities)."""

from __future__ import annotations

from decimal import Context, Decimal, localcontext
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS, ensure_storable, ratio_to_places
from apps.core.errors import ErrorCode, ValidationFailed

_MAX_INTEGER_DIGITS = MAX_DIGITS - DECIMAL_PLACES


def ensure_storable_by_tuple(value: Decimal, *, field: str) -> None:
    """The previous implementation, verbatim: the oracle."""
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


def verdict(check: object, value: Decimal) -> tuple[str, str, str | None] | None:
    try:
        check(value, field="quantity")  # type: ignore[operator]
    except ValidationFailed as exc:
        return (str(exc.code), str(exc), exc.field)
    return None


@st.composite
def any_decimal(draw: st.DrawFn) -> Decimal:
    """Sign, coefficient (0 to 60 digits, trailing zeros likely) and exponent (-80..+80)."""
    if draw(st.integers(0, 30)) == 0:
        return Decimal(draw(st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])))
    digits = draw(st.integers(0, 60))
    coefficient = draw(st.integers(0, 10**digits)) * 10 ** draw(st.integers(0, 25))
    exponent = draw(st.one_of(st.integers(-25, 5), st.integers(-80, 80)))
    sign = draw(st.sampled_from([0, 1]))
    return Decimal((sign, tuple(int(d) for d in str(coefficient)), exponent))


@settings(max_examples=3000, deadline=None)
@given(value=any_decimal())
@example(Decimal("1.0000000000000000000"))
@example(Decimal("1.000000000000000000"))
@example(Decimal("0E-18"))
@example(Decimal("0E-19"))
@example(Decimal("0E+19"))
@example(Decimal("0E+20"))
@example(Decimal("-0E-30"))
@example(Decimal("99999999999999999999.999999999999999999"))
@example(Decimal("99999999999999999999.999999999999999999500000000"))  # rounding carries into a 21st digit
@example(Decimal("100000000000000000000"))
@example(Decimal("1E+19"))
@example(Decimal("1E+20"))
@example(Decimal("1E-18"))
@example(Decimal("1E-19"))
@example(Decimal("12345678901234567890123456789012345678901234567890E-40"))
def test_ensure_storable_gives_the_tuple_checks_verdict(value: Decimal) -> None:
    assert verdict(ensure_storable, value) == verdict(ensure_storable_by_tuple, value)


_storable = st.decimals(
    min_value=Decimal("-99999999999999999999.999999999999999999"),
    max_value=Decimal("99999999999999999999.999999999999999999"),
    places=DECIMAL_PLACES,
    allow_nan=False,
    allow_infinity=False,
)


@given(numerator=_storable, denominator=_storable.filter(bool))
@example(numerator=Decimal("1982877.3699655"), denominator=Decimal("8.82744"))
@example(numerator=Decimal("2E+10"), denominator=Decimal("1"))
@settings(max_examples=500, deadline=None)
def test_ratio_to_places_rounds_once_half_even(numerator: Decimal, denominator: Decimal) -> None:
    """The oracle: the exact fraction, rounded half to even at 18 places."""
    with localcontext(Context(prec=100)):
        expected = Decimal(round(Fraction(numerator) / Fraction(denominator) * 10**DECIMAL_PLACES)).scaleb(
            -DECIMAL_PLACES
        )
    assert ratio_to_places(numerator, denominator) == expected
