"""The rule language: what parses, what it means (precedence, undefined values, crosses,
position terms), and the errors — code, line, column, expected — for what does not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.errors import ErrorCode, ValidationFailed
from apps.strategy.dsl import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    DslArgumentError,
    DslArityError,
    DslError,
    DslNameError,
    DslSyntaxError,
    DslTooComplexError,
    DslTypeError,
    PositionSeries,
    PositionState,
    Series,
    compile_rule,
)


def series_of(
    close: list[float], *, high: list[float] | None = None, low: list[float] | None = None
) -> Series:
    c = np.asarray(close, dtype=float)
    h = np.asarray(high, dtype=float) if high is not None else c + 1
    lo = np.asarray(low, dtype=float) if low is not None else c - 1
    return Series(open=c, high=h, low=lo, close=c, volume=np.ones_like(c))


def values(rule: str, close: list[float], **kwargs) -> list[bool]:
    return compile_rule(rule).evaluate_vectorized(series_of(close, **kwargs)).tolist()


VALID = [
    "crosses_above(sma(close, 20), sma(close, 50)) and rsi(close, 14) < 70",
    "crosses_below(ema(close, 12), ema(close, 26)) or pnl_pct <= -3",
    "close > bbands(close, 20, 2).upper",
    "close < bbands(close, 20, 1.5).lower and volume > sma(volume, 20) * 1.5",
    "macd(close, 12, 26, 9).hist > 0 and macd(close, 12, 26, 9).line > macd(close, 12, 26, 9).signal",
    "close >= highest(high, 20) and atr(14) / close < 0.05",
    "close <= lowest(low, 10)",
    "not (rsi(close, 14) > 30)",
    "pnl_pct >= 5 or bars_in_trade > 48 or close < entry_price * 0.97",
    "(high - low) / close > 0.02 and close > open",
    "-close < -100",
    "rsi(sma(close, 3), 14) < 25",
    "sma(rsi(close, 14), 5) > 50  # smoothed RSI",
    "close > 1e3 and close < .5e5 and 2. > 1",
    "close\n  > sma(close, 20)\n  and volume > 0",
    "close == close and close != 0",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_rules_compile_and_their_canonical_text_compiles_to_the_same_rule(text):
    rule = compile_rule(text)
    again = compile_rule(rule.canonical)
    assert again.canonical == rule.canonical
    assert (again.lookback, again.uses_position, again.window_only) == (
        rule.lookback,
        rule.uses_position,
        rule.window_only,
    )
    out = rule.evaluate_vectorized(series_of(list(np.linspace(100, 200, 80))))
    assert out.dtype == np.bool_
    assert out.shape == (80,)


@pytest.mark.parametrize(
    ("text", "lookback", "uses_position", "window_only"),
    [
        ("close > 1", 1, False, True),
        ("close > sma(close, 20)", 20, False, True),
        ("crosses_above(sma(close, 20), sma(close, 50))", 51, False, True),
        ("sma(highest(close, 5), 3) > 1", 7, False, True),
        ("bbands(close, 20, 2).upper > close", 20, False, True),
        ("rsi(close, 14) < 30", 15, False, False),
        ("ema(close, 10) > 1", 10, False, False),
        ("atr(14) > 1", 15, False, False),
        ("macd(close, 12, 26, 9).line > 0", 26, False, False),
        ("macd(close, 12, 26, 9).signal > 0", 34, False, False),
        ("pnl_pct > 2 and close > sma(close, 5)", 5, True, True),
    ],
)
def test_lookback_and_flags(text, lookback, uses_position, window_only):
    rule = compile_rule(text)
    assert (rule.lookback, rule.uses_position, rule.window_only) == (lookback, uses_position, window_only)
    assert rule.recommended_history >= rule.lookback
    assert (rule.recommended_history == rule.lookback) == window_only


@pytest.mark.parametrize(
    "text",
    [
        "sma(close, 7) == sma(close, 7)",
        "rsi(close, 5) == rsi(close, 5)",
        "atr(4) == atr(4)",
        "macd(close, 3, 6, 4).hist == macd(close, 3, 6, 4).hist",
        "highest(close, 4) >= lowest(close, 4)",
        "sma(highest(close, 3), 4) > 0",
        "bbands(ema(close, 3), 5, 2).lower == bbands(ema(close, 3), 5, 2).lower",
    ],
)
def test_lookback_is_the_first_candle_where_the_rule_can_be_true(text):
    """Each of these rules is true wherever it is defined, so the first True is at lookback-1."""
    rule = compile_rule(text)
    out = rule.evaluate_vectorized(series_of(list(100 + np.sin(np.arange(60)) * 5)))
    assert not out[: rule.lookback - 1].any()
    assert out[rule.lookback - 1 :].all()


def test_precedence():
    close = [1.0]
    assert values("1 + 2 * 3 == 7", close) == [True]
    assert values("(1 + 2) * 3 == 9", close) == [True]
    assert values("10 - 4 - 3 == 3", close) == [True]  # left-associative
    assert values("8 / 4 / 2 == 1", close) == [True]
    assert values("-2 * 3 == -6 and --2 == 2 and +2 == 2", close) == [True]
    assert values("1 < 2 or 1 < 2 and 1 > 2", close) == [True]  # and binds tighter than or
    assert values("(1 < 2 or 1 < 2) and 1 > 2", close) == [False]
    assert values("not 1 > 2 and 1 > 2", close) == [False]  # (not (1 > 2)) and (1 > 2)
    assert values("not (1 > 2 and 1 > 2)", close) == [True]


def test_undefined_values_make_comparisons_false():
    close = [1.0, 2.0, 3.0, 4.0]
    # sma(close, 3) is undefined on the first two candles: every comparison is False there
    for op in ("<", "<=", ">", ">=", "==", "!="):
        assert values(f"sma(close, 3) {op} 100", close)[:2] == [False, False]
    assert values("sma(close, 3) != 100", close)[2:] == [True, True]
    # `not` applies to the (defined) boolean: the comparison was False, so `not` is True
    assert values("not sma(close, 3) > 100", close) == [True, True, True, True]


def test_division_by_zero_is_undefined():
    close = [5.0, 6.0]
    assert values("close / (close - close) > 0", close) == [False, False]
    assert values("close / (close - close) <= 0", close) == [False, False]
    assert values("close / 2 == 2.5", close) == [True, False]


def test_crosses_need_the_previous_candle_on_the_other_side():
    assert values("crosses_above(close, 2)", [1.0, 2.0, 3.0, 1.0, 3.0]) == [False, False, True, False, True]
    # touching the level is not crossing it; moving off it upwards is
    assert values("crosses_above(close, 2)", [3.0, 2.0, 2.0, 2.5]) == [False, False, False, True]
    assert values("crosses_below(close, 2)", [3.0, 1.0, 1.0, 3.0, 2.0, 1.0]) == [
        False,
        True,
        False,
        False,
        False,
        True,
    ]
    # undefined on either candle: no cross (sma(close, 2) starts on the second candle)
    assert values("crosses_above(close, sma(close, 2))", [5.0, 1.0, 9.0]) == [False, False, True]


def test_position_terms_vectorized_and_latest():
    rule = compile_rule("pnl_pct >= 2 or bars_in_trade > 3 or close < entry_price * 0.9")
    series = series_of([100.0, 100.0, 100.0, 85.0])
    nan = np.nan
    position = PositionSeries(
        entry_price=np.array([nan, 100.0, 100.0, 100.0]),
        pnl_pct=np.array([nan, 0.0, 2.5, -15.0]),
        bars_in_trade=np.array([nan, 0, 1, 2]),
    )
    assert rule.evaluate_vectorized(series, position).tolist() == [False, False, True, True]
    assert rule.evaluate_vectorized(series).tolist() == [False] * 4  # flat everywhere
    assert rule.evaluate_latest(series, PositionState(entry_price=100.0, pnl_pct=-15.0, bars_in_trade=2))
    assert not rule.evaluate_latest(series, PositionState(entry_price=80.0, pnl_pct=6.0 - 5, bars_in_trade=2))
    assert not rule.evaluate_latest(series)  # flat


def test_latest_on_window_only_rules_reads_only_the_tail():
    rule = compile_rule("close > sma(close, 3) and crosses_above(close, highest(close, 2) - 1)")
    assert rule.window_only
    assert rule.lookback == 3
    tail = [11.0, 9.0, 12.0]
    assert rule.evaluate_latest(series_of(tail)) == rule.evaluate_vectorized(series_of(tail))[-1]
    # whatever came before the last `lookback` candles, even garbage, does not matter
    garbage = [np.nan, -1e300, 0.0, 7.0]
    assert rule.evaluate_latest(series_of(garbage + tail)) == rule.evaluate_latest(series_of(tail))


def test_latest_on_an_empty_or_short_series_is_false():
    rule = compile_rule("close > 0")
    assert rule.evaluate_latest(series_of([])) is False
    assert rule.evaluate_vectorized(series_of([])).shape == (0,)
    assert compile_rule("sma(close, 5) > 0").evaluate_latest(series_of([1.0, 2.0])) is False


def test_series_and_position_lengths_are_checked():
    one = np.ones(1)
    with pytest.raises(ValueError, match="differ in length"):
        Series(open=one, high=one, low=one, close=np.ones(2), volume=one)
    with pytest.raises(ValueError, match="position has 1 candles"):
        compile_rule("pnl_pct > 1").evaluate_vectorized(series_of([1.0, 2.0]), PositionSeries.flat(1))


def test_repeated_subexpressions_are_computed_once():
    rule = compile_rule("sma(close, 20) > 1 and sma(close, 20) < 1000 and sma( close , 20 ) != 5")
    root: Any = rule._root
    left = root.left.left.left  # first comparison's sma
    right = root.left.right.left
    assert left is right


# --- errors --------------------------------------------------------------------------------------

ERRORS = [
    # text, class, code, line, column, something in `expected`
    ("close >", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 8, "a number"),
    ("close > > 1", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 9, "a name"),
    ("sma(close, 20", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 14, "')'"),
    ("close > 1 and\n  (close < 2", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 2, 13, "')'"),
    ("close > 1 $", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 11, "'and'"),
    ("1 < close < 2", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 11, "'and'"),
    ("   ", DslSyntaxError, ErrorCode.DSL_SYNTAX_ERROR, 1, 1, None),
    ("close > 1 and\n    clsoe < 2", DslNameError, ErrorCode.DSL_UNKNOWN_NAME, 2, 5, "close"),
    ("smaa(close, 2) > 1", DslNameError, ErrorCode.DSL_UNKNOWN_NAME, 1, 1, "sma(series, n)"),
    ("bbands(close, 20, 2).top > 1", DslNameError, ErrorCode.DSL_UNKNOWN_NAME, 1, 22, "upper"),
    ("CLOSE > 1", DslNameError, ErrorCode.DSL_UNKNOWN_NAME, 1, 1, "close"),
    ("sma(close) > 1", DslArityError, ErrorCode.DSL_ARITY, 1, 1, "sma(series, n)"),
    ("atr(close, 14) > 1", DslArityError, ErrorCode.DSL_ARITY, 1, 1, "atr(n)"),
    ("crosses_above(close) ", DslArityError, ErrorCode.DSL_ARITY, 1, 1, "crosses_above(a, b)"),
    ("close + 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, "a boolean"),
    ("sma(close > 1, 3) > 0", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 5, "a number"),
    ("(close > 1) * 2 > 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 2, "a number"),
    ("close and close > 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, "a boolean"),
    ("not close", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 5, "a boolean"),
    ("macd(close, 12, 26, 9) > 0", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, "macd(...).line"),
    ("sma(close, 3).upper > 0", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 15, "sma(series, n)"),
    ("close.upper > 0", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, None),
    ("sma > 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, "sma(series, n)"),
    ("close(1) > 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 1, None),
    ("ema(pnl_pct, 3) > 1", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 5, None),
    ("crosses_above(close, entry_price)", DslTypeError, ErrorCode.DSL_TYPE_ERROR, 1, 22, None),
    ("sma(close, 0) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("sma(close, 2.5) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("sma(close, -3) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("sma(close, 1 + 2) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("sma(close, close) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("sma(close, 2001) > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 12, None),
    ("bbands(close, 20, 0).upper > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 19, None),
    ("macd(close, 26, 12, 9).line > 1", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 13, None),
    ("close > 1e999", DslArgumentError, ErrorCode.DSL_INVALID_ARGUMENT, 1, 9, None),
]


@pytest.mark.parametrize(("text", "cls", "code", "line", "column", "expected"), ERRORS)
def test_errors_name_code_position_and_expected(text, cls, code, line, column, expected):
    with pytest.raises(cls) as caught:
        compile_rule(text)
    error = caught.value
    assert isinstance(error, DslError)
    assert isinstance(error, ValidationFailed)  # the API renders it as a 400 with its code
    assert (error.code, error.line, error.column) == (code, line, column)
    if expected is not None:
        assert expected in error.expected
    assert f"(line {line}, column {column})" in error.message
    assert error.to_dict()["code"] == str(code)


def test_expected_lists_every_valid_continuation():
    """LALR reduces before it notices an error; the expected list must still be complete."""
    with pytest.raises(DslSyntaxError) as caught:
        compile_rule("sma(close, 20")
    assert set(caught.value.expected) == {
        "')'",
        "','",
        "'and'",
        "'or'",
        "'+' or '-'",
        "'*' or '/'",
        "'.'",
        "a comparison (<, <=, >, >=, ==, !=)",
    }
    with pytest.raises(DslSyntaxError) as caught:
        compile_rule("close 5")
    assert "the end of the rule" in caught.value.expected
    assert "')'" not in caught.value.expected  # no parenthesis is open


def test_unknown_name_suggests_the_closest_one():
    with pytest.raises(DslNameError, match="did you mean 'close'"):
        compile_rule("clsoe > 1")
    with pytest.raises(DslNameError, match="did you mean 'crosses_above'"):
        compile_rule("crosses_abov(close, 1)")


def test_too_long_or_too_deep_rules_are_refused():
    with pytest.raises(DslTooComplexError) as caught:
        compile_rule("close > 1 and " * (MAX_RULE_LENGTH // 10) + "close > 1")
    assert caught.value.code == ErrorCode.DSL_TOO_COMPLEX
    with pytest.raises(DslTooComplexError):
        compile_rule("-" * (MAX_DEPTH + 5) + "close > 1")
    with pytest.raises(DslTooComplexError):
        compile_rule("ema(" * (MAX_DEPTH + 1) + "close" + ", 2)" * (MAX_DEPTH + 1) + " > 1")
    with pytest.raises(DslTooComplexError):
        compile_rule(" and ".join(["close > 1"] * (MAX_DEPTH + 1)))
    # below the limit is fine; redundant parentheses do not nest the tree
    assert compile_rule(" and ".join(["close > 1"] * 50)).lookback == 1
    assert compile_rule("(" * 500 + "close > 1" + ")" * 500).canonical == "close > 1"


def test_non_str_is_a_type_error():
    with pytest.raises(TypeError):
        compile_rule(b"close > 1")


ALPHABET = st.sampled_from(
    [
        *"()+-*/<>=!.,#\n \t0123456789eE_",
        "close",
        "sma",
        "rsi",
        "macd",
        "bbands",
        "and",
        "or",
        "not",
        "crosses_above",
        ".upper",
        ".line",
        "pnl_pct",
        "atr",
        "14",
        "2.5",
        ",",
        "é",
        "\x00",
    ]
)


def check_compiles_or_fails_cleanly(text: str) -> None:
    error: DslError | None = None
    try:
        rule = compile_rule(text)
    except DslError as caught:
        error = caught
    if error is not None:
        assert error.line >= 1
        assert error.column >= 1
        assert error.code.startswith("dsl_")
        return
    assert compile_rule(rule.canonical).canonical == rule.canonical
    assert rule.evaluate_vectorized(series_of([1.0, 2.0, 3.0])).shape == (3,)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_gives_a_rule_or_a_dsl_error(text):
    check_compiles_or_fails_cleanly(text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_token_soup_gives_a_rule_or_a_dsl_error(text):
    check_compiles_or_fails_cleanly(text)
