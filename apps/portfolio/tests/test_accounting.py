"""Average cost, pure: known cases (including flips through zero) and properties against an
exact rational reference."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.portfolio.accounting import LotState, apply_fill, apply_trade


def trade(state: LotState, side: str, qty: str, price: str) -> LotState:
    q, p = Decimal(qty), Decimal(price)
    return apply_trade(state, side=side, quantity=q, quote_quantity=q * p).state


def test_buys_average_their_prices_and_a_sell_realizes_against_the_average() -> None:
    state = trade(LotState(), "BUY", "1", "100")
    state = trade(state, "BUY", "3", "200")
    assert state.average_price == Decimal("175")
    state = trade(state, "SELL", "2", "300")
    assert state.quantity == Decimal("2")
    assert state.average_price == Decimal("175")  # closing never moves the average
    assert state.realized_pnl == Decimal("250")  # 2 * (300 - 175)
    assert state.cost_basis == Decimal("350")


def test_long_flips_short_through_zero_opening_the_rest_at_the_fill_price() -> None:
    state = trade(LotState(), "BUY", "1", "100")
    effect = apply_trade(state, side="SELL", quantity=Decimal("3"), quote_quantity=Decimal("3") * 130)
    assert effect.closed_quantity == Decimal("1")
    assert effect.opened_quantity == Decimal("2")
    assert effect.realized_pnl == Decimal("30")
    assert effect.state.quantity == Decimal("-2")
    assert effect.state.average_price == Decimal("130")
    assert effect.state.cost_basis == Decimal("-260")
    # The short gains when the price falls.
    assert effect.state.unrealized_pnl(Decimal("120")) == Decimal("20")
    back = trade(effect.state, "BUY", "2", "110")
    assert back.quantity == 0
    assert back.realized_pnl == Decimal("70")  # 30 + 2 * (130 - 110)
    assert back.average_price is None
    assert back.cost_basis == 0


def test_exact_close_to_zero_leaves_no_cost_behind() -> None:
    state = trade(LotState(), "BUY", "0.3", "101.01")
    state = trade(state, "BUY", "0.7", "99.99")
    state = trade(state, "SELL", "0.1", "100")
    state = trade(state, "SELL", "0.9", "100")
    assert (state.quantity, state.cost_basis, state.average_price) == (0, 0, None)
    # 0.3*101.01 + 0.7*99.99 = 100.296 paid, 100 received
    assert state.realized_pnl == Decimal("-0.296")


@pytest.mark.parametrize(("qty", "quote"), [("0", "1"), ("-1", "1"), ("1", "-1")])
def test_refuses_nonsense_fills(qty: str, quote: str) -> None:
    with pytest.raises(ValueError, match="must"):
        apply_trade(LotState(), side="BUY", quantity=Decimal(qty), quote_quantity=Decimal(quote))


trades = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("5"), places=5),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("90000"), places=2),
    ),
    min_size=1,
    max_size=40,
)


def reference(fills: list[tuple[str, Decimal, Decimal]]) -> tuple[Fraction, Fraction, Fraction]:
    """Average cost with exact rationals: (quantity, average price, realized)."""
    qty, avg, realized = Fraction(0), Fraction(0), Fraction(0)
    for side, q_dec, p_dec in fills:
        q, p = Fraction(q_dec), Fraction(p_dec)
        signed = q if side == "BUY" else -q
        if qty == 0 or (qty > 0) == (signed > 0):
            avg = (abs(qty) * avg + q * p) / (abs(qty) + q)
            qty += signed
            continue
        closed = min(q, abs(qty))
        realized += closed * (p - avg) * (1 if qty > 0 else -1)
        qty += closed if signed > 0 else -closed
        rest = q - closed
        if rest:
            qty += rest if signed > 0 else -rest
            avg = p
        elif qty == 0:
            avg = Fraction(0)
    return qty, avg, realized


@settings(max_examples=300, deadline=None)
@given(fills=trades, mark=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("90000"), places=2))
def test_average_cost_matches_the_exact_reference_and_pnl_adds_up(fills, mark) -> None:
    state = LotState()
    cash = Decimal(0)
    for side, q, p in fills:
        state = apply_trade(state, side=side, quantity=q, quote_quantity=q * p).state
        cash += -q * p if side == "BUY" else q * p

    ref_qty, ref_avg, ref_realized = reference(fills)
    assert state.quantity == ref_qty
    assert abs(Fraction(state.realized_pnl) - ref_realized) <= Fraction(1, 10**15)
    if ref_qty:
        assert state.average_price is not None
        # The cost basis is stored at 18 decimals: each partial close may round it by up to
        # 0.5e-18, which the average (cost / quantity) divides by the quantity still held.
        bound = Fraction(len(fills), 2 * 10**18) / abs(ref_qty) + Fraction(1, 2 * 10**18)
        assert abs(Fraction(state.average_price) - ref_avg) <= bound
    # Realized + unrealized is exactly the trading cash flow plus what is held, at the mark.
    assert state.realized_pnl + state.unrealized_pnl(mark) == cash + state.quantity * mark


def test_a_base_asset_fee_leaves_the_position_as_a_sale_at_its_value() -> None:
    bought = apply_fill(
        LotState(),
        side="BUY",
        quantity=Decimal("1"),
        quote_quantity=Decimal("100"),
        base_fee=Decimal("0.01"),
        base_fee_value=Decimal("1"),
    )
    assert (bought.state.quantity, bought.state.cost_basis, bought.realized_pnl) == (Decimal("0.99"), 99, 0)
    sold = apply_fill(
        bought.state,
        side="SELL",
        quantity=Decimal("0.98"),
        quote_quantity=Decimal("117.6"),
        base_fee=Decimal("0.01"),
        base_fee_value=Decimal("1.2"),
    )
    # Everything held is gone (0.98 sold, 0.01 paid): flat, 0.99 * (120 - 100) realized gross.
    assert (sold.state.quantity, sold.state.cost_basis, sold.state.average_price) == (0, 0, None)
    assert sold.realized_pnl == Decimal("19.8")
    with pytest.raises(ValueError, match="must not be negative"):
        apply_fill(
            LotState(), side="BUY", quantity=Decimal(1), quote_quantity=Decimal(1), base_fee=Decimal(-1)
        )


@settings(max_examples=300, deadline=None)
@given(
    fills=st.lists(
        st.tuples(
            st.sampled_from(["BUY", "SELL"]),
            st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("5"), places=5),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("90000"), places=2),
            st.decimals(min_value=Decimal("0"), max_value=Decimal("0.01"), places=8),
        ),
        min_size=1,
        max_size=40,
    ),
    mark=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("90000"), places=2),
)
def test_with_base_asset_fees_the_position_is_the_wallet_and_net_pnl_its_change(fills, mark) -> None:
    state = LotState()
    cash = held = fees = Decimal(0)
    for side, q, p, fee in fills:
        state = apply_fill(
            state, side=side, quantity=q, quote_quantity=q * p, base_fee=fee, base_fee_value=fee * p
        ).state
        cash += -q * p if side == "BUY" else q * p
        held += (q if side == "BUY" else -q) - fee
        fees += fee * p
    assert state.quantity == held
    # Net of the fees' value, realized + unrealized is the wallet's change at the mark, exactly.
    assert state.realized_pnl + state.unrealized_pnl(mark) - fees == cash + held * mark
