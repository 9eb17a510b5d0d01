"""Acceptance: random buy/sell sequences of partially filled orders, fees in the base asset,
the quote asset or BNB, recorded through execution and delivered by the outbox relay.

- the position's quantity is what the wallet holds: the signed sum of the fills less the
  commissions paid in the base asset (the derived base balance, to the last digit);
- net PnL is the mark-to-market change of the wallet (every derived balance at the mark or
  the recorded rate), and gross (realized + unrealized) is that plus the fees (each fee valued
  when it was charged: base at the fill price, BNB at the recorded rate);
- the average-cost split between realized and unrealized matches an exact rational reference
  in which a base-asset commission is a sale of that quantity at the fill price;
- derived balances are the fills' movements, fees included;
- replaying every outbox event a second time changes nothing.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.execution.models import OutboxEvent
from apps.execution.tests.factories import AccountFactory
from apps.portfolio import selectors, services
from apps.portfolio.models import Balance, BalanceFlow, Position, PositionUpdate, ProcessedEvent

from .factories import T0, fill, order_for, relay
from .test_accounting import reference

quantities = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("2"), places=5)
prices = st.decimals(min_value=Decimal("100"), max_value=Decimal("60000"), places=2)
fees = st.tuples(
    st.sampled_from(["none", "quote", "base", "bnb"]),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("0.5"), places=8),
)
orders = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.lists(st.tuples(quantities, prices, fees), min_size=1, max_size=4),  # partial fills
        st.booleans(),  # leave part of the order unfilled
        st.booleans(),  # relay right after this order (else later, together)
    ),
    min_size=1,
    max_size=7,
)


def books() -> dict[str, object]:
    return {
        "positions": list(
            Position.objects.order_by("symbol").values_list(
                "quantity",
                "cost_basis",
                "realized_pnl",
                "fees_paid",
                "unconverted_fees",
                "version",
                "fills_count",
            )
        ),
        "balances": list(
            Balance.objects.order_by("asset").values_list("asset", "derived_total", "drift", "version")
        ),
        "updates": list(
            PositionUpdate.objects.order_by("id").values_list("fill_id", "version_after", "fee_quote")
        ),
        "flows": BalanceFlow.objects.count(),
        "processed": ProcessedEvent.objects.count(),
    }


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=orders,
    mark=prices,
    bnb_rate=st.decimals(min_value=Decimal("1"), max_value=Decimal("1000"), places=4),
)
def test_positions_and_pnl_follow_any_fill_sequence_and_replays_change_nothing(
    markets, plan, mark, bnb_rate
) -> None:
    with transaction.atomic():
        account = AccountFactory.create()
        services.record_mark(symbol="BNBUSDT", price=bnb_rate, as_of=T0, source="test")
        clock = itertools.count()
        signed_qty = cash = expected_fees = quote_fees = bnb_fees = Decimal(0)
        sequence: list[tuple[str, Decimal, Decimal]] = []
        for side, parts, leave_open, relay_now in plan:
            filled = sum((q for q, _, _ in parts), Decimal(0))
            order = order_for(account, side, filled + (Decimal("0.5") if leave_open else 0))
            for qty, price, (fee_mode, fee) in parts:
                asset = {"none": "", "quote": "USDT", "base": "BTC", "bnb": "BNB"}[fee_mode]
                commission = fee if asset else Decimal(0)
                fill(
                    order,
                    qty,
                    price,
                    commission=commission,
                    asset=asset,
                    executed_at=T0 + timedelta(seconds=next(clock)),
                )
                sign = 1 if side == "BUY" else -1
                signed_qty += sign * qty
                cash -= sign * qty * price
                sequence.append((side, qty, price))
                if asset == "BTC":  # the commission leaves the wallet: a sale at the fill price
                    signed_qty -= commission
                    sequence.append(("SELL", commission, price))
                if asset == "USDT":
                    expected_fees += commission
                    quote_fees += commission
                elif asset == "BTC":
                    expected_fees += commission * price
                elif asset == "BNB":
                    expected_fees += commission * bnb_rate
                    bnb_fees += commission
            if relay_now:
                relay()
        relay()
        services.record_mark(symbol="BTCUSDT", price=mark, as_of=T0, source="test")

        (view,), _ = selectors.positions(account_ids=[account.pk], now=T0)
        derived = dict(Balance.objects.filter(account=account).values_list("asset", "derived_total"))
        assert view.quantity == signed_qty == derived.get("BTC", Decimal(0))
        assert view.version == sum(len(parts) for _, parts, _, _ in plan)
        assert view.unrealized_pnl is not None
        wallet_change = (
            derived.get("USDT", Decimal(0))
            + derived.get("BTC", Decimal(0)) * mark
            + derived.get("BNB", Decimal(0)) * bnb_rate
        )
        assert view.net_pnl == wallet_change
        assert view.fees_paid == expected_fees
        assert view.fees_complete
        assert view.realized_pnl + view.unrealized_pnl == wallet_change + expected_fees

        _, avg, realized = reference(sequence)
        assert abs(Fraction(view.realized_pnl) - realized) <= Fraction(1, 10**12)
        if signed_qty:
            assert view.average_price is not None
            assert abs(Fraction(view.average_price) - avg) <= Fraction(1, 10**12)

        assert derived.get("BTC", Decimal(0)) == signed_qty
        assert derived.get("USDT", Decimal(0)) == cash - quote_fees
        assert derived.get("BNB", Decimal(0)) == -bnb_fees

        before = books()
        OutboxEvent.objects.update(published_at=None, attempts=0, next_attempt_at=None)
        assert relay() == OutboxEvent.objects.count()
        assert books() == before

        transaction.set_rollback(True)
