"""Validation of raw strategy configs into the normalized dataclasses of `configs`.

Hand-written rather than DRF serializers because every error must name the exact JSON path
of the offending value (`$.take_profit[1].pct`) and every error of a config is reported at
once, including the cross-field ones. Unknown fields are refused: a misspelt
`stop_los_pct` silently ignored would run a bot without its stop.

Numbers are accepted as JSON numbers (the API's parser turns them into Decimal), decimal
strings or ints; Python floats are refused because they have already lost precision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from apps.core.decimals import DECIMAL_PLACES, MAX_DIGITS

from .configs import (
    ConfigError,
    ConfigInvalid,
    DcaConfig,
    GridConfig,
    GridSpacing,
    SizingMode,
    StrategyConfig,
    StrategyKind,
    SwingConfig,
    TakeProfitStep,
)

HUNDRED = Decimal(100)
ONE = Decimal(1)
ZERO = Decimal(0)
MAX_SAFETY_ORDERS = 100
MAX_TAKE_PROFIT_STEPS = 10
MAX_GRID_LEVELS = 200  # Binance's usual MAX_NUM_ORDERS per symbol
MAX_SCALE = Decimal(10)
MAX_COOLDOWN_BARS = 100_000
MAX_RULE_LENGTH = 10_000
_MAX_INTEGER_DIGITS = MAX_DIGITS - DECIMAL_PLACES

E = TypeVar("E", GridSpacing, SizingMode)


class Errors:
    """Collects every error of one config; `raise_if_any` turns them into ConfigInvalid."""

    def __init__(self) -> None:
        self.items: list[ConfigError] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append(ConfigError(path=path, code=code, message=message))

    def has(self, path: str) -> bool:
        return any(e["path"] == path or e["path"].startswith((path + ".", path + "[")) for e in self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigInvalid(self.items)


# ---- scalar readers: each returns None (and records an error) when the value is invalid ----


def read_decimal(
    errors: Errors,
    path: str,
    value: Any,
    *,
    minimum: Decimal | None = ZERO,
    min_inclusive: bool = False,
    maximum: Decimal | None = None,
    max_inclusive: bool = False,
) -> Decimal | None:
    """A finite Decimal within (minimum, maximum); bounds exclusive unless told otherwise."""
    number = _to_decimal(errors, path, value)
    if number is None:
        return None
    if minimum is not None and (number < minimum or (number == minimum and not min_inclusive)):
        word = "at least" if min_inclusive else "greater than"
        errors.add(path, "out_of_range", f"must be {word} {minimum}.")
        return None
    if maximum is not None and (number > maximum or (number == maximum and not max_inclusive)):
        word = "at most" if max_inclusive else "less than"
        errors.add(path, "out_of_range", f"must be {word} {maximum}.")
        return None
    return number


def _to_decimal(errors: Errors, path: str, value: Any) -> Decimal | None:
    if isinstance(value, bool | float):
        errors.add(path, "invalid_decimal", "must be a decimal number or string, not a float or boolean.")
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = None
    if not isinstance(value, Decimal | int | str) or number is None or not number.is_finite():
        errors.add(path, "invalid_decimal", "must be a finite decimal number.")
        return None
    _sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - finite values have int exponents
        return None
    if max(0, -exponent) > DECIMAL_PLACES or max(0, len(digits) + exponent) > _MAX_INTEGER_DIGITS:
        errors.add(
            path,
            "invalid_decimal",
            f"has too many digits (at most {_MAX_INTEGER_DIGITS} before and "
            f"{DECIMAL_PLACES} after the point).",
        )
        return None
    return Decimal(decimal_text(number))


def read_int(errors: Errors, path: str, value: Any, *, minimum: int, maximum: int) -> int | None:
    """An integer in [minimum, maximum]; integral decimals ("3", 3.0 from JSON) are accepted."""
    if isinstance(value, bool | float):
        errors.add(path, "invalid_integer", "must be an integer.")
        return None
    number = value if isinstance(value, int) else None
    if isinstance(value, Decimal | str):
        try:
            parsed = Decimal(str(value).strip())
        except InvalidOperation:
            parsed = None
        if parsed is not None and parsed.is_finite() and parsed == parsed.to_integral_value():
            number = int(parsed)
    if number is None:
        errors.add(path, "invalid_integer", "must be an integer.")
        return None
    if not minimum <= number <= maximum:
        errors.add(path, "out_of_range", f"must be between {minimum} and {maximum}.")
        return None
    return number


def read_bool(errors: Errors, path: str, value: Any) -> bool | None:
    if not isinstance(value, bool):
        errors.add(path, "invalid_boolean", "must be true or false.")
        return None
    return value


def read_choice(errors: Errors, path: str, value: Any, enum: type[E]) -> E | None:
    choices = [m.value for m in enum]
    if not isinstance(value, str) or value.strip().lower() not in choices:
        errors.add(path, "invalid_choice", f"must be one of {', '.join(choices)}.")
        return None
    return enum(value.strip().lower())


def read_text(errors: Errors, path: str, value: Any, *, max_length: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "invalid_string", "must be a non-empty string.")
        return None
    if len(value) > max_length:
        errors.add(path, "too_long", f"must be at most {max_length} characters.")
        return None
    return value.strip()


# ---- object shape ----


def check_object(errors: Errors, path: str, raw: Any, allowed: Iterable[str]) -> Mapping[str, Any] | None:
    """The raw value as a mapping; an error for a non-object and for every unknown key."""
    if not isinstance(raw, Mapping):
        errors.add(path, "invalid_type", "must be a JSON object.")
        return None
    allowed_set = set(allowed)
    for key in raw:
        if key not in allowed_set:
            errors.add(f"{path}.{key}", "unknown_field", f"unknown field {key!r}.")
    return raw


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def required(errors: Errors, raw: Mapping[str, Any], name: str, reader: Callable[[str, Any], Any]) -> Any:
    path = f"$.{name}"
    if raw.get(name) is None:
        errors.add(path, "required", "this field is required.")
        return None
    return reader(path, raw[name])


def optional(
    raw: Mapping[str, Any], name: str, reader: Callable[[str, Any], Any], default: Any = None
) -> Any:
    value = raw.get(name)
    if value is None:
        return default
    return reader(f"$.{name}", value)


# ---- entry points ----


def parse(kind: StrategyKind, raw: Any) -> StrategyConfig:
    parsers: dict[StrategyKind, Callable[[Errors, Mapping[str, Any]], StrategyConfig | None]] = {
        StrategyKind.DCA: _parse_dca,
        StrategyKind.GRID: _parse_grid,
        StrategyKind.SWING: _parse_swing,
    }
    errors = Errors()
    cls = {StrategyKind.DCA: DcaConfig, StrategyKind.GRID: GridConfig, StrategyKind.SWING: SwingConfig}[kind]
    mapping = check_object(errors, "$", raw, field_names(cls))
    config = parsers[kind](errors, mapping) if mapping is not None else None
    errors.raise_if_any()
    if config is None:  # pragma: no cover - a parser returns None only after recording errors
        raise ConfigInvalid([ConfigError(path="$", code="invalid", message="invalid config.")])
    return config


def _parse_dca(errors: Errors, raw: Mapping[str, Any]) -> DcaConfig | None:
    def pos(path: str, v: Any) -> Decimal | None:
        return read_decimal(errors, path, v)

    def pct(path: str, v: Any) -> Decimal | None:
        return read_decimal(errors, path, v, maximum=HUNDRED)

    def scale(path: str, v: Any) -> Decimal | None:
        return read_decimal(errors, path, v, maximum=MAX_SCALE, max_inclusive=True)

    values: dict[str, Any] = {
        "base_order_quote": required(errors, raw, "base_order_quote", pos),
        "safety_order_quote": required(errors, raw, "safety_order_quote", pos),
        "max_safety_orders": required(
            errors,
            raw,
            "max_safety_orders",
            lambda p, v: read_int(errors, p, v, minimum=0, maximum=MAX_SAFETY_ORDERS),
        ),
        "max_active_safety_orders": required(
            errors,
            raw,
            "max_active_safety_orders",
            lambda p, v: read_int(errors, p, v, minimum=0, maximum=MAX_SAFETY_ORDERS),
        ),
        "price_deviation_pct": required(errors, raw, "price_deviation_pct", pct),
        "step_scale": optional(raw, "step_scale", scale, ONE),
        "volume_scale": optional(raw, "volume_scale", scale, ONE),
        "take_profit": required(errors, raw, "take_profit", lambda p, v: _take_profit(errors, p, v)),
        "stop_loss_pct": optional(raw, "stop_loss_pct", pct),
        "move_to_breakeven": optional(raw, "move_to_breakeven", lambda p, v: read_bool(errors, p, v), False),
        "trailing_take_profit_pct": optional(raw, "trailing_take_profit_pct", pct),
        "cooldown_bars": optional(
            raw, "cooldown_bars", lambda p, v: read_int(errors, p, v, minimum=0, maximum=MAX_COOLDOWN_BARS), 0
        ),
    }
    _check_dca(errors, raw, values)
    if errors.items:
        return None
    return DcaConfig(**values)


def _take_profit(errors: Errors, path: str, value: Any) -> tuple[TakeProfitStep, ...] | None:
    """A list of steps, or a single percent as shorthand for one step closing everything."""
    if not isinstance(value, list):
        single = read_decimal(errors, path, value, maximum=Decimal(10_000), max_inclusive=True)
        return None if single is None else (TakeProfitStep(pct=single, close_fraction=ONE),)
    if not 1 <= len(value) <= MAX_TAKE_PROFIT_STEPS:
        errors.add(path, "invalid_length", f"must have between 1 and {MAX_TAKE_PROFIT_STEPS} steps.")
        return None
    steps: list[TakeProfitStep | None] = []
    for i, item in enumerate(value):
        step_path = f"{path}[{i}]"
        raw_step = check_object(errors, step_path, item, field_names(TakeProfitStep))
        if raw_step is None:
            steps.append(None)
            continue
        steps.append(_take_profit_step(errors, step_path, raw_step))
    complete = [s for s in steps if s is not None]
    if len(complete) != len(steps):
        return None
    for i in range(1, len(complete)):
        if complete[i].pct <= complete[i - 1].pct:
            errors.add(f"{path}[{i}].pct", "not_increasing", "take-profit steps must have increasing pct.")
    total = sum((s.close_fraction for s in complete), ZERO)
    if total != ONE:
        errors.add(path, "fractions_sum", f"close_fraction of the steps must sum to 1 (they sum to {total}).")
    return tuple(complete)


def _take_profit_step(errors: Errors, path: str, raw: Mapping[str, Any]) -> TakeProfitStep | None:
    values: dict[str, Decimal] = {}
    for name, maximum in (("pct", Decimal(10_000)), ("close_fraction", ONE)):
        if raw.get(name) is None:
            errors.add(f"{path}.{name}", "required", "this field is required.")
            continue
        number = read_decimal(errors, f"{path}.{name}", raw[name], maximum=maximum, max_inclusive=True)
        if number is not None:
            values[name] = number
    if len(values) != 2:
        return None
    return TakeProfitStep(**values)


def _check_dca(errors: Errors, raw: Mapping[str, Any], v: dict[str, Any]) -> None:
    max_so, active = v["max_safety_orders"], v["max_active_safety_orders"]
    if max_so is not None and active is not None:
        if active > max_so:
            errors.add("$.max_active_safety_orders", "exceeds_max", "must not exceed max_safety_orders.")
        elif max_so > 0 and active == 0:
            errors.add(
                "$.max_active_safety_orders",
                "out_of_range",
                "must be at least 1 when safety orders are used.",
            )
    deviation, step = v["price_deviation_pct"], v["step_scale"]
    if max_so and deviation is not None and step is not None:
        crossing = _first_order_at_or_below_zero(deviation, step, max_so)
        if crossing is not None:
            errors.add(
                "$.max_safety_orders",
                "deviation_too_deep",
                f"safety order {crossing} would sit 100 % or more below the entry price; lower "
                "max_safety_orders, price_deviation_pct or step_scale.",
            )
    steps = v["take_profit"]
    if steps is None:
        return
    if v["move_to_breakeven"] and len(steps) < 2:
        errors.add("$.move_to_breakeven", "requires_steps", "needs at least two take-profit steps.")
    trailing = v["trailing_take_profit_pct"]
    if trailing is not None:
        if len(steps) != 1:
            errors.add(
                "$.trailing_take_profit_pct", "requires_single_step", "needs exactly one take-profit step."
            )
        elif trailing >= steps[0].pct:
            errors.add("$.trailing_take_profit_pct", "out_of_range", "must be less than the take-profit pct.")


def _first_order_at_or_below_zero(deviation_pct: Decimal, step_scale: Decimal, count: int) -> int | None:
    """The first safety order (1-based) whose cumulative deviation reaches 100 %, if any."""
    total, step = ZERO, deviation_pct
    for n in range(1, count + 1):
        total += step
        if total >= HUNDRED:
            return n
        step *= step_scale
    return None


def safety_deviations(deviation_pct: Decimal, step_scale: Decimal, count: int) -> list[Decimal]:
    """Cumulative distance below entry (in %) of safety orders 1..count: d, d(1+s), d(1+s+s^2)..."""
    result: list[Decimal] = []
    total, step = ZERO, deviation_pct
    for _ in range(count):
        total += step
        result.append(total)
        step *= step_scale
    return result


def _parse_grid(errors: Errors, raw: Mapping[str, Any]) -> GridConfig | None:
    def price(path: str, v: Any) -> Decimal | None:
        return read_decimal(errors, path, v)

    def flag(path: str, v: Any) -> bool | None:
        return read_bool(errors, path, v)

    values: dict[str, Any] = {
        "lower_price": required(errors, raw, "lower_price", price),
        "upper_price": required(errors, raw, "upper_price", price),
        "levels": required(
            errors, raw, "levels", lambda p, v: read_int(errors, p, v, minimum=2, maximum=MAX_GRID_LEVELS)
        ),
        "spacing": optional(
            raw, "spacing", lambda p, v: read_choice(errors, p, v, GridSpacing), GridSpacing.ARITHMETIC
        ),
        "quantity_per_level": optional(raw, "quantity_per_level", price),
        "total_investment_quote": optional(raw, "total_investment_quote", price),
        "trailing_up": optional(raw, "trailing_up", flag, False),
        "trailing_down": optional(raw, "trailing_down", flag, False),
        "stop_loss_price": optional(raw, "stop_loss_price", price),
        "take_profit_price": optional(raw, "take_profit_price", price),
    }
    _check_grid(errors, raw, values)
    if errors.items:
        return None
    return GridConfig(**values)


def _check_grid(errors: Errors, raw: Mapping[str, Any], v: dict[str, Any]) -> None:
    lower, upper = v["lower_price"], v["upper_price"]
    if lower is not None and upper is not None and upper <= lower:
        errors.add("$.upper_price", "not_above_lower", "must be greater than lower_price.")
        lower = upper = None
    given = [n for n in ("quantity_per_level", "total_investment_quote") if raw.get(n) is not None]
    if len(given) != 1:
        errors.add(
            "$.quantity_per_level" if not given else f"$.{given[1]}",
            "exactly_one",
            "give exactly one of quantity_per_level and total_investment_quote.",
        )
    stop, take = v["stop_loss_price"], v["take_profit_price"]
    if stop is not None and lower is not None and stop >= lower:
        errors.add("$.stop_loss_price", "inside_grid", "must be below lower_price.")
    if take is not None and upper is not None and take <= upper:
        errors.add("$.take_profit_price", "inside_grid", "must be above upper_price.")


def _parse_swing(errors: Errors, raw: Mapping[str, Any]) -> SwingConfig | None:
    def rule(path: str, v: Any) -> str | None:
        text = read_text(errors, path, v, max_length=MAX_RULE_LENGTH)
        if text is not None:
            _compile_rule(errors, path, text)
        return text

    def pct(path: str, v: Any) -> Decimal | None:
        return read_decimal(errors, path, v, maximum=HUNDRED)

    values: dict[str, Any] = {
        "entry": required(errors, raw, "entry", rule),
        "exit": required(errors, raw, "exit", rule),
        "sizing_mode": required(
            errors, raw, "sizing_mode", lambda p, v: read_choice(errors, p, v, SizingMode)
        ),
        "sizing_value": required(errors, raw, "sizing_value", lambda p, v: read_decimal(errors, p, v)),
        "stop_loss_pct": optional(raw, "stop_loss_pct", pct),
        "take_profit_pct": optional(
            raw,
            "take_profit_pct",
            lambda p, v: read_decimal(errors, p, v, maximum=Decimal(10_000), max_inclusive=True),
        ),
    }
    if errors.items:
        return None
    return SwingConfig(**values)


def _compile_rule(errors: Errors, path: str, text: str) -> None:
    """Compile the rule with the DSL so syntax, names, arity and types fail here, not live."""
    # Imported here: the DSL pulls in lark and numpy, which plain DCA/Grid parsing never needs.
    from apps.strategy.dsl import DslError, compile_rule  # noqa: PLC0415

    try:
        compile_rule(text)
    except DslError as exc:
        suffix = f"; expected one of: {', '.join(exc.expected)}" if exc.expected else ""
        errors.items.append(
            ConfigError(
                path=path,
                code=str(exc.code),
                message=f"line {exc.line}, column {exc.column}: {exc.reason}{suffix}",
                line=exc.line,
                column=exc.column,
                expected=list(exc.expected),
            )
        )


# ---- serialization ----


def decimal_text(value: Decimal) -> str:
    """Plain positional notation without trailing zeros ("1E+2" -> "100", "1.50" -> "1.5")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def to_json(config: StrategyConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(config):
        out[f.name] = _json_value(getattr(config, f.name))
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, GridSpacing | SizingMode):
        return value.value
    if isinstance(value, tuple):
        return [{"pct": decimal_text(s.pct), "close_fraction": decimal_text(s.close_fraction)} for s in value]
    return value
