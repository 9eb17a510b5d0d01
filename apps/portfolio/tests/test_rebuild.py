"""`rebuild_positions`: positions recorded before base-asset fees left the position are
replayed from their stored fills under the current rules."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from apps.portfolio.models import Balance, Position, PositionUpdate

from .factories import T0, fill, minutes, order_for, relay


def rebuild(*args: str) -> str:
    out = StringIO()
    call_command("rebuild_positions", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_position_recorded_under_the_old_rule_is_rebuilt_from_its_fills(account) -> None:
    fill(order_for(account, "BUY", "1"), "1", "30000", commission="0.001", asset="BTC", executed_at=T0)
    fill(order_for(account, "SELL", "0.999"), "0.999", "31000", executed_at=T0 + minutes(1))
    relay()
    # What the consumer stored before the fix: the fee stayed in the position (0.001 BTC, 30 USDT).
    position = Position.objects.get(account=account)
    Position.objects.filter(pk=position.pk).update(
        quantity=Decimal("0.001"), cost_basis=Decimal("30"), average_price=Decimal("30000")
    )
    buy, sell = PositionUpdate.objects.order_by("version_after")
    PositionUpdate.objects.filter(pk=buy.pk).update(quantity_after=1, cost_basis_after=30000)
    PositionUpdate.objects.filter(pk=sell.pk).update(
        quantity_after=Decimal("0.001"), cost_basis_after=30, average_price_after=30000
    )

    assert "1 positions would change" in rebuild("--dry-run")
    assert Position.objects.get(pk=position.pk).quantity == Decimal("0.001")  # dry run: untouched

    out = rebuild("--account", str(account.pk))
    assert "quantity 0.001000000000000000 -> 0" in out
    assert "1 positions changed" in out
    rebuilt = Position.objects.get(pk=position.pk)
    assert (rebuilt.quantity, rebuilt.cost_basis, rebuilt.average_price) == (0, 0, None)
    assert rebuilt.quantity == Balance.objects.get(account=account, asset="BTC").derived_total
    assert (rebuilt.realized_pnl, rebuilt.fees_paid, rebuilt.version) == (Decimal("999"), Decimal("30"), 2)
    assert list(
        PositionUpdate.objects.order_by("version_after").values_list("quantity_after", "cost_basis_after")
    ) == [(Decimal("0.999"), Decimal("29970")), (0, 0)]

    assert "0 positions changed" in rebuild()  # idempotent
