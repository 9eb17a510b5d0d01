"""The digest's number text: `canonical` writes exactly what `format(normalize(), "f")` wrote
(the oracle), for any Decimal — long coefficients, trailing zeros, exponents far either way,
zeros, signs, NaN and infinities — under the default context and a short one."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apps.backtest.engine import simulate
from apps.backtest.engine.fingerprint import canonical, result_digest
from apps.strategy.configs import StrategyKind

from .helpers import synthetic
from .test_engine import spec as engine_spec


def canonical_by_format(value: Decimal | None) -> str:
    """The previous implementation, verbatim: the oracle."""
    if value is None:
        return "-"
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@st.composite
def any_decimal(draw: st.DrawFn) -> Decimal:
    if draw(st.integers(0, 30)) == 0:
        return Decimal(draw(st.sampled_from(["NaN", "-NaN", "Infinity", "-Infinity"])))
    digits = draw(st.integers(0, 50))
    coefficient = draw(st.integers(0, 10**digits)) * 10 ** draw(st.integers(0, 20))
    exponent = draw(st.one_of(st.integers(-30, 10), st.integers(-200, 200)))
    return Decimal((draw(st.sampled_from([0, 1])), tuple(int(d) for d in str(coefficient)), exponent))


@settings(max_examples=3000, deadline=None)
@given(value=any_decimal(), precision=st.sampled_from([None, 12, 80]), capitals=st.sampled_from([0, 1]))
@example(value=Decimal("100"), precision=None, capitals=1)
@example(value=Decimal("0.0000001"), precision=None, capitals=0)
@example(value=Decimal("0.000001"), precision=None, capitals=0)
@example(value=Decimal("-0E+5"), precision=None, capitals=0)
@example(value=Decimal("1.50E+3"), precision=None, capitals=0)
@example(value=Decimal("0.02318000"), precision=None, capitals=0)
def test_canonical_writes_what_format_wrote(value: Decimal, precision: int | None, capitals: int) -> None:
    with localcontext(capitals=capitals) as ctx:
        if precision is not None:
            ctx.prec = precision
        assert canonical(value) == canonical_by_format(value)
    assert canonical(None) == "-"


def result_digest_line_by_line(orders: Any, rejections: Any, trades: Any, tags: dict[str, str]) -> str:
    """The previous digest, verbatim but for `canonical_by_format`: one update per line."""

    def order_line(order: Any, tag: str) -> str:
        return "|".join(
            (
                "O",
                str(order.order_id),
                order.client_order_id,
                tag,
                str(order.side),
                str(order.order_type),
                canonical_by_format(order.quantity),
                canonical_by_format(order.price),
                str(order.status),
                canonical_by_format(order.executed_quantity),
                canonical_by_format(order.cumulative_quote),
                str(order.created_ms),
                str(order.updated_ms),
            )
        )

    def rejection_line(rejection: Any) -> str:
        intent = rejection.intent
        return "|".join(
            (
                "R",
                intent.client_order_id,
                intent.tag,
                str(intent.side),
                str(intent.order_type),
                canonical_by_format(intent.quantity),
                canonical_by_format(intent.price),
                str(rejection.time_ms),
                rejection.reason,
            )
        )

    def trade_line(trade: Any) -> str:
        return "|".join(
            (
                "F",
                str(trade.trade_id),
                str(trade.order_id),
                trade.client_order_id,
                str(trade.side),
                canonical_by_format(trade.price),
                canonical_by_format(trade.quantity),
                canonical_by_format(trade.quote_quantity),
                canonical_by_format(trade.commission),
                trade.commission_asset,
                "M" if trade.is_maker else "T",
                str(trade.time_ms),
            )
        )

    digest = hashlib.sha256()
    for order in orders:
        digest.update(order_line(order, tags.get(order.client_order_id, "")).encode() + b"\n")
    for rejection in rejections:
        digest.update(rejection_line(rejection).encode() + b"\n")
    for trade in trades:
        digest.update(trade_line(trade).encode() + b"\n")
    return digest.hexdigest()


@pytest.mark.parametrize(("kind", "initial"), [(k, i) for k in StrategyKind for i in ("10000", "520", "260")])
def test_the_digest_is_the_line_by_line_one(kind: StrategyKind, initial: str) -> None:
    """Runs with orders, fills and (short of cash) refused intents: the joined
    digest is the line-by-line one; so is an empty run's."""
    base = engine_spec(kind)
    outcome = simulate(replace(base, initial_quote=Decimal(initial)), synthetic(3000, seed=11))
    assert outcome.orders or outcome.rejections
    if initial != "10000" and kind == StrategyKind.SWING:
        assert outcome.rejections  # short of cash
    expected = result_digest_line_by_line(outcome.orders, outcome.rejections, outcome.trades, outcome.tags)
    assert result_digest(outcome.orders, outcome.rejections, outcome.trades, outcome.tags) == expected
    assert result_digest([], [], [], {}) == hashlib.sha256().hexdigest()
