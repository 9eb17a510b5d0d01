from __future__ import annotations

from decimal import Decimal

from apps.execution.models import ExchangeAccount
from apps.risk.models import RiskLimits


def limits(account: ExchangeAccount, symbol: str = "", **values: Decimal | int) -> RiskLimits:
    return RiskLimits.objects.create(account=account, symbol=symbol, **values)
