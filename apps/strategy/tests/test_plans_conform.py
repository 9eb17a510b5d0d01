"""`plans.conform`'s one-pass MARKET case answers what the two passes alone answer
(`plans.conform_in_two_passes`, the general path it falls back to: the oracle) on random
filters, quantities, references and contexts: the same rounded quantity (coefficient and
exponent), price and problem, or the same exception."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from apps.core.domain import Side, SymbolFilters
from apps.strategy.plans import conform, conform_in_two_passes


def answer(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        quantity, price, problem = function(*args, **kwargs)
    except ArithmeticError as exc:
        return type(exc).__name__
    return quantity.as_tuple(), None if price is None else price.as_tuple(), problem


STEPS = ["0", "0.00001", "0.0010", "0.0025", "1", "5", "1E+1", "0.000010000000000000", "1E-18"]
ODD_STEPS = ["0.0000100000000000000", "0.00100000000000000000000", "3E-19"]


@st.composite
def symbol(draw: st.DrawFn) -> SymbolFilters:
    return SymbolFilters(
        "BTCUSDT",
        "BTC",
        "USDT",
        tick_size=Decimal(draw(st.sampled_from(["0.01", "0.5", "0"]))),
        step_size=Decimal(draw(st.sampled_from(STEPS + ODD_STEPS))),
        min_qty=Decimal(draw(st.sampled_from(["0", "0", "0.00001", "0.01", "3"]))),
        max_qty=Decimal(draw(st.sampled_from(["0", "0", "0.05", "9000"]))),
        min_notional=Decimal(draw(st.sampled_from(["0", "0", "5", "50"]))),
        max_notional=Decimal(draw(st.sampled_from(["0", "0", "1000", "1E+30"]))),
    )


QUANTITIES = st.one_of(
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("0.1"), allow_nan=False, places=24),
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1E+6"), allow_nan=False, places=12),
    st.decimals(min_value=Decimal("1E+18"), max_value=Decimal("1E+22"), allow_nan=False, places=2),
    st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0.000010000000000000000"), Decimal("1E+25")]),
)


PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(200000), places=8)


@settings(max_examples=3000, deadline=None)
@given(
    filters=symbol(),
    quantity=QUANTITIES,
    reference=st.one_of(st.none(), PRICES),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    precision=st.sampled_from([None, 40, 28, 12]),
)
@example(
    filters=SymbolFilters("X", "B", "Q", Decimal("0.01"), Decimal("0.0000100000000000000")),
    quantity=Decimal("0.5"),
    reference=None,
    side=Side.BUY,
    precision=40,
)
def test_one_pass_answers_what_two_passes_answer(
    filters: SymbolFilters, quantity: Decimal, reference: Decimal | None, side: Side, precision: int | None
) -> None:
    with localcontext() as ctx:
        if precision is not None:
            ctx.prec = precision
        order = {"side": side, "quantity": quantity, "price": None, "reference_price": reference}
        ours, theirs = answer(conform, filters, **order), answer(conform_in_two_passes, filters, **order)
    assert ours == theirs
    event("raises" if isinstance(theirs, str) else "accepted" if theirs[2] is None else "refused")
