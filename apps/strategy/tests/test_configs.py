"""parse_config: valid configs normalize and round-trip; invalid ones name the JSON path."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.api.parsers import DecimalJSONParser
from apps.strategy.configs import (
    ConfigInvalid,
    DcaConfig,
    GridConfig,
    GridSpacing,
    SizingMode,
    StrategyKind,
    SwingConfig,
    TakeProfitStep,
    config_to_json,
    parse_config,
)

from .factories import dca_config, grid_config, swing_config

D = Decimal


def _errors(kind: str, raw: Any) -> list[dict[str, Any]]:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(StrategyKind(kind), raw)
    return [dict(e) for e in caught.value.errors]


def _round_trip(kind: StrategyKind, raw: dict[str, Any]) -> Any:
    config = parse_config(kind, raw)
    as_json = config_to_json(config)
    # Through real JSON text too: what the database and the API hold.
    text = json.dumps(as_json)
    assert parse_config(kind, json.loads(text)) == config
    assert config_to_json(parse_config(kind, as_json)) == as_json
    return config


VALID_DCA = [
    dca_config(),
    dca_config(take_profit="1.5"),
    dca_config(take_profit=D("1.5"), move_to_breakeven=False),
    dca_config(max_safety_orders=0, max_active_safety_orders=0),
    dca_config(max_safety_orders=25, max_active_safety_orders=25, price_deviation_pct="1", step_scale="1.05"),
    dca_config(step_scale=1, volume_scale=1),
    dca_config(stop_loss_pct="10", move_to_breakeven=True),
    dca_config(take_profit=[{"pct": "2", "close_fraction": "1"}], trailing_take_profit_pct="0.5"),
    dca_config(
        take_profit=[
            {"pct": "0.5", "close_fraction": "0.25"},
            {"pct": "1", "close_fraction": "0.25"},
            {"pct": "1.5", "close_fraction": "0.25"},
            {"pct": "3", "close_fraction": "0.25"},
        ]
    ),
    dca_config(cooldown_bars=12, base_order_quote=D("10.50"), safety_order_quote="1e1"),
    dca_config(stop_loss_pct=None, trailing_take_profit_pct=None),
    dca_config(max_safety_orders="3", max_active_safety_orders=D("1")),
]


@pytest.mark.parametrize("raw", VALID_DCA)
def test_valid_dca_configs_normalize_and_round_trip(raw: dict[str, Any]) -> None:
    config = _round_trip(StrategyKind.DCA, raw)
    assert isinstance(config, DcaConfig)
    assert sum(step.close_fraction for step in config.take_profit) == 1


def test_dca_normalization() -> None:
    config = parse_config(
        StrategyKind.DCA,
        dca_config(take_profit="1.50", safety_order_quote="1e1", base_order_quote=D("10.00")),
    )
    assert config == DcaConfig(
        base_order_quote=D(10),
        safety_order_quote=D(10),
        max_safety_orders=3,
        max_active_safety_orders=2,
        price_deviation_pct=D(2),
        step_scale=D(2),
        volume_scale=D(2),
        take_profit=(TakeProfitStep(pct=D("1.5"), close_fraction=D(1)),),
    )
    assert config_to_json(config)["safety_order_quote"] == "10"
    assert config_to_json(config)["take_profit"] == [{"pct": "1.5", "close_fraction": "1"}]
    defaults = parse_config(
        StrategyKind.DCA, {k: v for k, v in dca_config().items() if k not in ("step_scale",)}
    )
    assert isinstance(defaults, DcaConfig)
    assert defaults.step_scale == 1
    assert defaults.cooldown_bars == 0


INVALID_DCA = [
    (dca_config(base_order_quote="0"), "$.base_order_quote", "out_of_range"),
    (dca_config(base_order_quote="-5"), "$.base_order_quote", "out_of_range"),
    (dca_config(base_order_quote="ten"), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote=10.5), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote=True), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote="NaN"), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote="Infinity"), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote="0.0000000000000000001"), "$.base_order_quote", "invalid_decimal"),
    (dca_config(base_order_quote=None), "$.base_order_quote", "required"),
    (dca_config(safety_order_quote=[]), "$.safety_order_quote", "invalid_decimal"),
    (dca_config(max_safety_orders=-1), "$.max_safety_orders", "out_of_range"),
    (dca_config(max_safety_orders=101), "$.max_safety_orders", "out_of_range"),
    (dca_config(max_safety_orders="2.5"), "$.max_safety_orders", "invalid_integer"),
    (dca_config(max_safety_orders=2.0), "$.max_safety_orders", "invalid_integer"),
    (dca_config(max_active_safety_orders=4), "$.max_active_safety_orders", "exceeds_max"),
    (dca_config(max_active_safety_orders=0), "$.max_active_safety_orders", "out_of_range"),
    (dca_config(price_deviation_pct="0"), "$.price_deviation_pct", "out_of_range"),
    (dca_config(price_deviation_pct="100"), "$.price_deviation_pct", "out_of_range"),
    (dca_config(step_scale="0"), "$.step_scale", "out_of_range"),
    (dca_config(volume_scale="11"), "$.volume_scale", "out_of_range"),
    (dca_config(price_deviation_pct="30", step_scale="2"), "$.max_safety_orders", "deviation_too_deep"),
    (dca_config(take_profit=[]), "$.take_profit", "invalid_length"),
    (dca_config(take_profit="0"), "$.take_profit", "out_of_range"),
    (dca_config(take_profit={"pct": "1"}), "$.take_profit", "invalid_decimal"),
    (
        dca_config(
            take_profit=[{"pct": "1", "close_fraction": "0.5"}, {"pct": "2", "close_fraction": "0.4"}]
        ),
        "$.take_profit",
        "fractions_sum",
    ),
    (
        dca_config(
            take_profit=[{"pct": "1", "close_fraction": "0.5"}, {"pct": "1", "close_fraction": "0.5"}]
        ),
        "$.take_profit[1].pct",
        "not_increasing",
    ),
    (
        dca_config(
            take_profit=[{"pct": "1", "close_fraction": "0.5"}, {"pct": "-2", "close_fraction": "0.5"}]
        ),
        "$.take_profit[1].pct",
        "out_of_range",
    ),
    (
        dca_config(take_profit=[{"pct": "1", "close_fraction": "1.5"}]),
        "$.take_profit[0].close_fraction",
        "out_of_range",
    ),
    (dca_config(take_profit=[{"pct": "1"}]), "$.take_profit[0].close_fraction", "required"),
    (
        dca_config(take_profit=[{"pct": "1", "close_fraction": "1", "size": 2}]),
        "$.take_profit[0].size",
        "unknown_field",
    ),
    (dca_config(take_profit=["1"]), "$.take_profit[0]", "invalid_type"),
    (dca_config(stop_loss_pct="0"), "$.stop_loss_pct", "out_of_range"),
    (dca_config(stop_loss_pct="100"), "$.stop_loss_pct", "out_of_range"),
    (dca_config(take_profit="1", move_to_breakeven=True), "$.move_to_breakeven", "requires_steps"),
    (dca_config(move_to_breakeven="yes"), "$.move_to_breakeven", "invalid_boolean"),
    (dca_config(trailing_take_profit_pct="0.5"), "$.trailing_take_profit_pct", "requires_single_step"),
    (dca_config(take_profit="1", trailing_take_profit_pct="1"), "$.trailing_take_profit_pct", "out_of_range"),
    (dca_config(cooldown_bars=-1), "$.cooldown_bars", "out_of_range"),
    (dca_config(stop_los_pct="5"), "$.stop_los_pct", "unknown_field"),
]


@pytest.mark.parametrize(("raw", "path", "code"), INVALID_DCA)
def test_invalid_dca_configs_name_the_path(raw: dict[str, Any], path: str, code: str) -> None:
    errors = _errors("DCA", raw)
    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]} for e in errors]


def test_every_error_is_reported_at_once() -> None:
    errors = _errors(
        "DCA",
        {
            "base_order_quote": "x",
            "take_profit": [{"pct": "1", "close_fraction": "0.5"}, {"pct": "0.5", "close_fraction": "0.4"}],
            "extra": 1,
        },
    )
    paths = {e["path"] for e in errors}
    assert {
        "$.extra",
        "$.base_order_quote",
        "$.safety_order_quote",
        "$.max_safety_orders",
        "$.take_profit[1].pct",
        "$.take_profit",
    } <= paths


@pytest.mark.parametrize("raw", [None, [], "DCA", 3])
def test_config_must_be_an_object(raw: Any) -> None:
    assert _errors("DCA", raw) == [{"path": "$", "code": "invalid_type", "message": "must be a JSON object."}]


VALID_GRID = [
    grid_config(),
    grid_config(spacing="geometric"),
    grid_config(spacing="GEOMETRIC", levels=200),
    grid_config(levels=2),
    grid_config(spacing=None),
    grid_config(quantity_per_level=None, total_investment_quote="1000"),
    grid_config(trailing_up=True, trailing_down=True),
    grid_config(stop_loss_price="19000", take_profit_price="41000"),
    grid_config(lower_price=D("0.00001"), upper_price="0.0001", quantity_per_level="100000"),
    grid_config(levels="10"),
]


@pytest.mark.parametrize("raw", VALID_GRID)
def test_valid_grid_configs_normalize_and_round_trip(raw: dict[str, Any]) -> None:
    config = _round_trip(StrategyKind.GRID, raw)
    assert isinstance(config, GridConfig)
    assert config.lower_price < config.upper_price
    assert (config.quantity_per_level is None) != (config.total_investment_quote is None)


def test_grid_defaults() -> None:
    config = parse_config(StrategyKind.GRID, grid_config(spacing=None))
    assert config == GridConfig(
        lower_price=D(20000),
        upper_price=D(40000),
        levels=5,
        spacing=GridSpacing.ARITHMETIC,
        quantity_per_level=D("0.001"),
    )


INVALID_GRID = [
    (grid_config(upper_price="20000"), "$.upper_price", "not_above_lower"),
    (grid_config(upper_price="10000"), "$.upper_price", "not_above_lower"),
    (grid_config(lower_price="0"), "$.lower_price", "out_of_range"),
    (grid_config(lower_price=None), "$.lower_price", "required"),
    (grid_config(levels=1), "$.levels", "out_of_range"),
    (grid_config(levels=201), "$.levels", "out_of_range"),
    (grid_config(levels="many"), "$.levels", "invalid_integer"),
    (grid_config(spacing="log"), "$.spacing", "invalid_choice"),
    (grid_config(quantity_per_level=None), "$.quantity_per_level", "exactly_one"),
    (grid_config(total_investment_quote="1000"), "$.total_investment_quote", "exactly_one"),
    (grid_config(quantity_per_level="0"), "$.quantity_per_level", "out_of_range"),
    (
        grid_config(quantity_per_level=None, total_investment_quote="-1"),
        "$.total_investment_quote",
        "out_of_range",
    ),
    (grid_config(stop_loss_price="20000"), "$.stop_loss_price", "inside_grid"),
    (grid_config(stop_loss_price="30000"), "$.stop_loss_price", "inside_grid"),
    (grid_config(take_profit_price="40000"), "$.take_profit_price", "inside_grid"),
    (grid_config(trailing_up=1), "$.trailing_up", "invalid_boolean"),
    (grid_config(grid_levels=5), "$.grid_levels", "unknown_field"),
]


@pytest.mark.parametrize(("raw", "path", "code"), INVALID_GRID)
def test_invalid_grid_configs_name_the_path(raw: dict[str, Any], path: str, code: str) -> None:
    errors = _errors("GRID", raw)
    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]} for e in errors]


VALID_SWING = [
    swing_config(),
    swing_config(entry="close > sma(close, 50)", exit="close < sma(close, 50)"),
    swing_config(entry="rsi(close, 14) < 30", exit="rsi(close, 14) > 70 or bars_in_trade >= 48"),
    swing_config(
        entry="close < bbands(close, 20, 2).lower and volume > sma(volume, 20)",
        exit="close > bbands(close, 20, 2).middle",
    ),
    swing_config(
        entry="macd(close, 12, 26, 9).hist > 0 and not (close < lowest(low, 10))",
        exit="pnl_pct > 3 or close < entry_price - 2 * atr(14)",
    ),
    swing_config(sizing_mode="base", sizing_value="0.01", stop_loss_pct="3", take_profit_pct="6"),
    swing_config(sizing_mode="QUOTE", entry="\n  close >\n highest(high, 20)\n"),
]


@pytest.mark.parametrize("raw", VALID_SWING)
def test_valid_swing_configs_normalize_and_round_trip(raw: dict[str, Any]) -> None:
    config = _round_trip(StrategyKind.SWING, raw)
    assert isinstance(config, SwingConfig)
    assert config.sizing_mode in (SizingMode.QUOTE, SizingMode.BASE)
    assert config.entry == config.entry.strip()


INVALID_SWING = [
    (swing_config(entry="close >"), "$.entry", "dsl_syntax_error"),
    (swing_config(exit="rsi(close, 14) >> 70"), "$.exit", "dsl_syntax_error"),
    (swing_config(entry="foo(close, 3) > 1"), "$.entry", "dsl_unknown_name"),
    (swing_config(entry="sma(close) > 1"), "$.entry", "dsl_arity"),
    (swing_config(exit="close + 1"), "$.exit", "dsl_type_error"),
    (swing_config(entry=""), "$.entry", "invalid_string"),
    (swing_config(entry=5), "$.entry", "invalid_string"),
    (swing_config(exit=None), "$.exit", "required"),
    (swing_config(sizing_mode="percent"), "$.sizing_mode", "invalid_choice"),
    (swing_config(sizing_value="0"), "$.sizing_value", "out_of_range"),
    (swing_config(stop_loss_pct="150"), "$.stop_loss_pct", "out_of_range"),
    (swing_config(take_profit_pct="-1"), "$.take_profit_pct", "out_of_range"),
    (swing_config(leverage=3), "$.leverage", "unknown_field"),
]


@pytest.mark.parametrize(("raw", "path", "code"), INVALID_SWING)
def test_invalid_swing_configs_name_the_path(raw: dict[str, Any], path: str, code: str) -> None:
    errors = _errors("SWING", raw)
    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]} for e in errors]


def test_swing_rule_errors_carry_line_and_column() -> None:
    (error,) = _errors("SWING", swing_config(exit="close > 1 and\n  rsi(close, 14) >"))
    assert error["path"] == "$.exit"
    assert error["line"] == 2
    assert error["column"] > 1
    assert error["message"].startswith(f"line 2, column {error['column']}:")
    assert error["expected"]


def test_json_numbers_from_the_api_parser_are_accepted() -> None:
    """The API parses JSON numbers as Decimal; 1.5 in a request means exactly 1.5."""
    body = json.dumps({**dca_config(), "price_deviation_pct": 1.5, "max_safety_orders": 3})
    raw = DecimalJSONParser().parse(io.BytesIO(body.encode()))
    assert isinstance(raw["price_deviation_pct"], Decimal)
    config = parse_config(StrategyKind.DCA, raw)
    assert isinstance(config, DcaConfig)
    assert config.price_deviation_pct == D("1.5")


# ---- properties ----

decimals = st.decimals(
    min_value=D("-1e6"), max_value=D("1e6"), allow_nan=False, allow_infinity=False, places=6
)


@settings(max_examples=200, deadline=None)
@given(value=decimals)
def test_positive_amounts_are_accepted_exactly_when_positive(value: Decimal) -> None:
    raw = dca_config(base_order_quote=str(value))
    if value > 0:
        config = parse_config(StrategyKind.DCA, raw)
        assert isinstance(config, DcaConfig)
        assert config.base_order_quote == value
    else:
        assert [e["path"] for e in _errors("DCA", raw)] == ["$.base_order_quote"]


@settings(max_examples=200, deadline=None)
@given(value=decimals)
def test_percentages_are_accepted_exactly_in_the_open_interval(value: Decimal) -> None:
    raw = dca_config(stop_loss_pct=str(value))
    if 0 < value < 100:
        config = parse_config(StrategyKind.DCA, raw)
        assert isinstance(config, DcaConfig)
        assert config.stop_loss_pct == value
    else:
        assert [e["path"] for e in _errors("DCA", raw)] == ["$.stop_loss_pct"]


@settings(max_examples=200, deadline=None)
@given(lower=decimals, upper=decimals, levels=st.integers(min_value=-5, max_value=300))
def test_grid_bounds_and_levels(lower: Decimal, upper: Decimal, levels: int) -> None:
    raw = grid_config(lower_price=str(lower), upper_price=str(upper), levels=levels)
    valid = 0 < lower < upper and 2 <= levels <= 200
    if valid:
        config = _round_trip(StrategyKind.GRID, raw)
        assert isinstance(config, GridConfig)
        assert (config.lower_price, config.upper_price, config.levels) == (lower, upper, levels)
    else:
        assert _errors("GRID", raw)


@settings(max_examples=200, deadline=None)
@given(
    max_so=st.integers(min_value=0, max_value=100),
    active=st.integers(min_value=0, max_value=100),
    deviation=st.decimals(min_value=D("0.1"), max_value=D("10"), places=2),
    step=st.decimals(min_value=D("0.5"), max_value=D("2"), places=2),
)
def test_safety_order_limits(max_so: int, active: int, deviation: Decimal, step: Decimal) -> None:
    raw = dca_config(
        max_safety_orders=max_so,
        max_active_safety_orders=active,
        price_deviation_pct=str(deviation),
        step_scale=str(step),
    )
    total, gap = D(0), deviation
    for _ in range(max_so):
        total += gap
        gap *= step
    valid = active <= max_so and (active >= 1 or max_so == 0) and total < 100
    if valid:
        config = _round_trip(StrategyKind.DCA, raw)
        assert isinstance(config, DcaConfig)
        assert config.max_active_safety_orders <= config.max_safety_orders
    else:
        paths = {e["path"] for e in _errors("DCA", raw)}
        assert paths <= {"$.max_active_safety_orders", "$.max_safety_orders"}


@settings(max_examples=100, deadline=None)
@given(fractions=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=10))
def test_take_profit_fractions_must_sum_to_one(fractions: list[int]) -> None:
    steps = [{"pct": str(i + 1), "close_fraction": str(D(f) / 100)} for i, f in enumerate(fractions)]
    raw = dca_config(take_profit=steps)
    if sum(fractions) == 100:
        config = _round_trip(StrategyKind.DCA, raw)
        assert isinstance(config, DcaConfig)
        assert len(config.take_profit) == len(fractions)
    else:
        assert {"path": "$.take_profit", "code": "fractions_sum"} in [
            {"path": e["path"], "code": e["code"]} for e in _errors("DCA", raw)
        ]
