"""What one pre-trade check reads: the limits rows by one plain statement, the approval epoch
and the health mark in one Redis round trip; limit writes the version cannot tell apart still
invalidate cached approvals (real PostgreSQL and Redis)."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal

import pytest

from apps.risk.models import RiskLimits
from apps.risk.services import validate_order
from apps.risk.services import validation as validation_module
from apps.risk.services.health import record_validation_failure
from apps.risk.services.redis_keys import client, key

from .factories import limits

D = Decimal


def _check(account, quantity: str = "0.01"):  # 0.01 BTC at 30,000 = 300 USDT
    return validate_order(
        account_id=account.pk, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=D(quantity), price=D("30000"),
    )  # fmt: skip


@pytest.mark.django_db
def test_limit_rows_are_what_the_orm_reads_account_wide_first(account) -> None:
    limits(account, "BTCUSDT", max_position_size=D("0.5"), max_symbol_exposure=D("12345.678901234567890123"))
    limits(account, max_order_notional=D("1000"), max_open_orders=4, max_daily_loss=D("50"),
           max_total_exposure=D("9999"))  # fmt: skip
    limits(account, "ETHUSDT", max_position_size=D("1"))  # another symbol's row: not read
    rows = validation_module._read_limits(account.pk, "BTCUSDT")
    orm = RiskLimits.objects.filter(account=account, symbol__in=["", "BTCUSDT"]).order_by("symbol")
    expected = [{name: getattr(r, name) for name in validation_module._LIMIT_COLUMNS} for r in orm]
    assert [asdict(r) for r in rows] == expected
    assert [r.symbol for r in rows] == ["", "BTCUSDT"]
    assert isinstance(rows[0].max_order_notional, Decimal)


@pytest.mark.django_db
def test_one_statement_per_check(account, django_assert_num_queries) -> None:
    limits(account, max_order_notional=D("1000"))
    _check(account)  # the verdict is now cached
    with django_assert_num_queries(1):
        assert _check(account).cached


@pytest.mark.django_db
def test_a_limit_deleted_and_created_again_at_the_same_version_is_seen(account) -> None:
    row = limits(account, max_order_notional=D("1000"))
    assert _check(account).approved  # cached under version tag "*1"
    row.delete()
    tighter = limits(account, max_order_notional=D("1"))
    assert tighter.version == row.version == 1  # the version alone cannot tell them apart
    approval = _check(account)
    assert not approval.approved
    assert not approval.cached


@pytest.mark.django_db
def test_a_healthy_check_leaves_no_failure_mark_and_a_failing_one_is_still_cleared(account) -> None:
    limits(account, max_order_notional=D("1000"))
    assert _check(account).approved
    assert client().get(key("failing-since")) is None
    record_validation_failure()  # another process failed meanwhile
    from apps.execution.gates import OrderProposal  # noqa: PLC0415
    from apps.risk.gate import pre_trade_check  # noqa: PLC0415

    proposal = OrderProposal(
        account_id=account.pk, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=D("0.01"), price=D("30000"),
    )  # fmt: skip
    verdict = pre_trade_check(proposal)
    assert verdict.approved
    assert client().get(key("failing-since")) is None
