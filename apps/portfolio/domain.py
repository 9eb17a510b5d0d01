"""Portfolio's DTOs (frozen dataclasses, Decimal) returned by selectors to views and other apps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class StaleReason(StrEnum):
    """Why an answer is stale; rendered as `<reason>` or `<reason>:<subject>`."""

    MARK_MISSING = "mark_missing"
    MARK_OLD = "mark_old"
    NEVER_RECONCILED = "never_reconciled"
    RECONCILIATION_OLD = "reconciliation_old"
    EVENTS_PENDING = "events_pending"


class PriceSource(StrEnum):
    MARK = "mark"
    AVERAGE_PRICE = "average_price"  # no mark: the position's own entry price, flagged stale
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Freshness:
    """How fresh an answer is: stale if any input is too old or missing.

    `data_as_of` is the oldest timestamp among the inputs the answer rests on (marks of open
    positions, the last successful reconciliation); None when no such input is known.
    """

    is_stale: bool
    data_as_of: datetime | None
    stale_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PositionView:
    account_id: int
    symbol: str
    base_asset: str
    quote_asset: str
    quantity: Decimal
    average_price: Decimal | None
    cost_basis: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    unconverted_fees: dict[str, Decimal]
    mark_price: Decimal | None
    mark_as_of: datetime | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    version: int
    last_fill_at: datetime | None
    updated_at: datetime
    freshness: Freshness

    @property
    def fees_complete(self) -> bool:
        return not self.unconverted_fees

    @property
    def net_pnl(self) -> Decimal | None:
        if self.unrealized_pnl is None:
            return None
        return self.realized_pnl + self.unrealized_pnl - self.fees_paid


@dataclass(frozen=True, slots=True)
class BalanceView:
    account_id: int
    asset: str
    free: Decimal | None
    locked: Decimal | None
    reported_total: Decimal | None
    reported_at: datetime | None
    report_source: str
    derived_total: Decimal
    unconfirmed_change: Decimal | None
    drift: Decimal | None
    drift_since: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    """One symbol's exposure, in its quote asset and in the valuation asset (for risk)."""

    account_id: int
    symbol: str
    quote_asset: str
    quantity: Decimal
    price: Decimal | None
    price_source: PriceSource
    notional: Decimal | None  # signed, quote asset
    exposure: Decimal | None  # |notional|, quote asset
    valuation_asset: str
    exposure_valued: Decimal | None  # |notional| in the valuation asset
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class TotalExposure:
    account_id: int
    valuation_asset: str
    gross: Decimal  # sum of |notional| over the symbols that could be valued
    net: Decimal
    unvalued_symbols: tuple[str, ...]
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class SymbolPnl:
    account_id: int
    symbol: str
    quote_asset: str
    quantity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    fees_paid: Decimal
    unconverted_fees: dict[str, Decimal]
    net_pnl: Decimal | None
    exposure: Decimal | None
    valuation_rate: Decimal | None  # quote asset -> valuation asset
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class PnlTotals:
    valuation_asset: str
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    equity: Decimal | None
    unvalued: tuple[str, ...] = ()
    unconverted_fees: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PnlReport:
    symbols: list[SymbolPnl]
    totals: PnlTotals
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class PnlSnapshotView:
    account_id: int
    date: date
    valuation_asset: str
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    daily_net_pnl: Decimal | None
    equity: Decimal | None
    gross_exposure: Decimal
    net_exposure: Decimal
    is_stale: bool
    data_as_of: datetime | None
    stale_reasons: tuple[str, ...]
    taken_at: datetime
