from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from apps.core.decimals import parse_decimal, snap_down
from apps.core.domain import Side, SymbolFilters, conform_to_filters
from apps.core.errors import ErrorCode, ValidationFailed

BTCUSDT = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    max_qty=Decimal("9000"),
    min_notional=Decimal("5"),
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("NaN", ErrorCode.INVALID_DECIMAL),
        ("Infinity", ErrorCode.INVALID_DECIMAL),
        ("abc", ErrorCode.INVALID_DECIMAL),
        ("1" * 40, ErrorCode.INVALID_DECIMAL),
        ("0." + "1" * 19, ErrorCode.INVALID_DECIMAL),
    ],
)
def test_parse_decimal_refuses_non_finite_and_oversized(raw: str, code: ErrorCode) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_decimal(raw, field="price")
    assert info.value.code == code
    assert info.value.field == "price"


def test_parse_decimal_refuses_floats() -> None:
    with pytest.raises(ValidationFailed):
        parse_decimal(0.1, field="quantity")


def test_parse_decimal_keeps_exact_value() -> None:
    assert parse_decimal("0.000000000000000001", field="q") == Decimal("1E-18")


@given(
    value=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=8),
    step=st.sampled_from([Decimal("0.001"), Decimal("0.25"), Decimal("5"), Decimal("0.00001")]),
)
def test_snap_down_is_the_largest_multiple_not_above(value: Decimal, step: Decimal) -> None:
    snapped = snap_down(value, step)
    assert snapped <= value
    assert snapped % step == 0
    assert value - snapped < step


def test_off_grid_values_are_refused_without_snap() -> None:
    with pytest.raises(ValidationFailed) as qty:
        conform_to_filters(BTCUSDT, side=Side.BUY, quantity=Decimal("0.000015"), price=Decimal("30000"))
    assert (qty.value.code, qty.value.field) == (ErrorCode.FILTER_LOT_SIZE, "quantity")
    with pytest.raises(ValidationFailed) as price:
        conform_to_filters(BTCUSDT, side=Side.BUY, quantity=Decimal("0.001"), price=Decimal("30000.005"))
    assert (price.value.code, price.value.field) == (ErrorCode.FILTER_PRICE, "price")


def test_notional_below_minimum_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        conform_to_filters(BTCUSDT, side=Side.BUY, quantity=Decimal("0.0001"), price=Decimal("30000"))
    assert info.value.code == ErrorCode.FILTER_MIN_NOTIONAL


def test_market_order_notional_uses_reference_price() -> None:
    with pytest.raises(ValidationFailed):
        conform_to_filters(
            BTCUSDT, side=Side.SELL, quantity=Decimal("0.0001"), price=None, reference_price=Decimal("30000")
        )
    ok = conform_to_filters(
        BTCUSDT, side=Side.SELL, quantity=Decimal("0.001"), price=None, reference_price=Decimal("30000")
    )
    assert ok.price is None


def test_snap_rounds_in_the_orders_favour() -> None:
    buy = conform_to_filters(
        BTCUSDT, side=Side.BUY, quantity=Decimal("0.0012345"), price=Decimal("30000.019"), snap=True
    )
    sell = conform_to_filters(
        BTCUSDT, side=Side.SELL, quantity=Decimal("0.0012345"), price=Decimal("30000.011"), snap=True
    )
    assert buy == type(buy)(quantity=Decimal("0.00123"), price=Decimal("30000.01"))
    assert sell.price == Decimal("30000.02")


def test_non_zero_quantity_snapping_to_zero_is_an_error() -> None:
    with pytest.raises(ValidationFailed) as info:
        conform_to_filters(
            BTCUSDT, side=Side.BUY, quantity=Decimal("0.000001"), price=Decimal("1"), snap=True
        )
    assert info.value.code == ErrorCode.FILTER_LOT_SIZE


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "true", "SECRET_KEY": "x" * 50}, "DEBUG must be off"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"SECRET_KEY": "s" * 50, "JWT_SIGNING_KEY": "j" * 50}, "FIELD_ENCRYPTION_KEYS"),
    ],
)
def test_production_settings_refuse_unsafe_configuration(env: dict[str, str], message: str) -> None:
    code = "import django; django.setup()"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={"DJANGO_SETTINGS_MODULE": "tradingbot.settings.production", "PATH": "/usr/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_start_when_configured() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        env={
            "DJANGO_SETTINGS_MODULE": "tradingbot.settings.production",
            "PATH": "/usr/bin",
            "SECRET_KEY": "s" * 50,
            "JWT_SIGNING_KEY": "j" * 50,
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
