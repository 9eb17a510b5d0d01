"""User-data stream events (Binance wire format) → typed DTOs, numbers as Decimal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.core.decimals import parse_decimal
from apps.core.domain import OrderStatus, Side

from .adapter import venue_status


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    symbol: str
    client_order_id: str
    original_client_order_id: str
    side: Side
    execution_type: str
    order_status: OrderStatus
    reject_reason: str
    exchange_order_id: str
    last_quantity: Decimal
    last_price: Decimal
    last_quote: Decimal
    cumulative_quantity: Decimal
    cumulative_quote: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    is_maker: bool
    transaction_time: datetime

    @property
    def our_client_order_id(self) -> str:
        """A cancel's report carries the cancel request's id in `c` and ours in `C`."""
        return self.original_client_order_id or self.client_order_id

    @property
    def is_trade(self) -> bool:
        return self.execution_type == "TRADE" and self.trade_id >= 0


@dataclass(frozen=True, slots=True)
class AssetBalance:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class AccountPosition:
    balances: tuple[AssetBalance, ...]
    event_time: datetime


def _d(value: Any, field: str) -> Decimal:
    return parse_decimal(str(value), field=field)


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def parse_execution_report(e: dict[str, Any]) -> ExecutionReport:
    return ExecutionReport(
        symbol=e["s"],
        client_order_id=e.get("c") or "",
        original_client_order_id=e.get("C") or "",
        side=Side(e["S"]),
        execution_type=e["x"],
        order_status=venue_status(e["X"]),
        reject_reason=e.get("r") or "NONE",
        exchange_order_id=str(e["i"]),
        last_quantity=_d(e.get("l", "0"), "l"),
        last_price=_d(e.get("L", "0"), "L"),
        last_quote=_d(e.get("Y", "0"), "Y"),
        cumulative_quantity=_d(e.get("z", "0"), "z"),
        cumulative_quote=_d(e.get("Z", "0"), "Z"),
        commission=_d(e.get("n") or "0", "n"),
        commission_asset=e.get("N") or "",
        trade_id=int(e.get("t", -1)),
        is_maker=bool(e.get("m", False)),
        transaction_time=_ms(e.get("T") or e.get("E")),
    )


def parse_account_position(e: dict[str, Any]) -> AccountPosition:
    return AccountPosition(
        balances=tuple(AssetBalance(b["a"], _d(b["f"], "f"), _d(b["l"], "l")) for b in e.get("B", [])),
        event_time=_ms(e["E"]),
    )
