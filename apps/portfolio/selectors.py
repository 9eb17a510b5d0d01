"""Portfolio's read API: positions, balances, PnL, exposure — each with its freshness.

Every function takes `now` (default: the clock) so staleness can be evaluated at any
instant. An answer is stale when a mark it uses is missing or older than
`PORTFOLIO_MARK_MAX_AGE`, when its account's last successful reconciliation is older than
`PORTFOLIO_RECONCILIATION_MAX_AGE` (or never happened), or when its account's oldest event
still in the outbox has failed delivery or is older than `PORTFOLIO_EVENT_LAG_MAX`
(see docs/PORTFOLIO.md).
Other apps (risk) use `exposure_for_symbol`, `exposures_for_account`, `total_exposure` and
`position_of`; views use the user-scoped functions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext

from django.conf import settings
from django.utils import timezone

from apps.execution import selectors as execution_selectors
from apps.execution.models import ExchangeAccount
from apps.execution.selectors import PendingAccountEvent, User

from .accounting import q18
from .domain import (
    BalanceView,
    Freshness,
    PnlReport,
    PnlSnapshotView,
    PnlTotals,
    PositionView,
    PriceSource,
    StaleReason,
    SymbolExposure,
    SymbolPnl,
    TotalExposure,
)
from .models import Balance, Mark, PnlSnapshot, Position

ZERO = Decimal(0)


def mark_max_age() -> timedelta:
    return timedelta(seconds=settings.PORTFOLIO_MARK_MAX_AGE_SECONDS)


def reconciliation_max_age() -> timedelta:
    return timedelta(seconds=settings.PORTFOLIO_RECONCILIATION_MAX_AGE_SECONDS)


def event_lag_max() -> timedelta:
    return timedelta(seconds=settings.PORTFOLIO_EVENT_LAG_MAX_SECONDS)


def valuation_asset() -> str:
    return str(settings.PORTFOLIO_VALUATION_ASSET)


# --- freshness -----------------------------------------------------------------------------


@dataclass
class _FreshnessBuilder:
    now: datetime
    stale: bool = False
    timestamps: list[datetime] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def mark(self, subject: str, mark: Mark | None) -> None:
        if mark is None:
            self._stale(f"{StaleReason.MARK_MISSING}:{subject}")
            return
        self.timestamps.append(mark.as_of)
        if self.now - mark.as_of > mark_max_age():
            self._stale(f"{StaleReason.MARK_OLD}:{subject}")

    def reconciliation(self, account_id: int, at: datetime | None) -> None:
        subject = f"account-{account_id}"
        if at is None:
            self._stale(f"{StaleReason.NEVER_RECONCILED}:{subject}")
            return
        self.timestamps.append(at)
        if self.now - at > reconciliation_max_age():
            self._stale(f"{StaleReason.RECONCILIATION_OLD}:{subject}")

    def pending_events(self, account_id: int, pending: PendingAccountEvent | None) -> None:
        """The account's oldest event not yet delivered: what it carries (a fill, a balance
        report) and every later event of the account are not in the answer, so the answer is
        confirmed only up to its creation. A young event is the relay's normal sub-second lag;
        one that has failed holds the account's later events back until it goes through
        (retried with backoff, possibly for long), so it is stale at once."""
        if pending is None:
            return
        self.timestamps.append(pending.created_at)
        if pending.held_back or self.now - pending.created_at > event_lag_max():
            self._stale(f"{StaleReason.EVENTS_PENDING}:account-{account_id}")

    def merge(self, other: Freshness) -> None:
        if other.is_stale:
            self.stale = True
        if other.data_as_of is not None:
            self.timestamps.append(other.data_as_of)
        for reason in other.stale_reasons:
            if reason not in self.reasons:
                self.reasons.append(reason)

    def build(self) -> Freshness:
        return Freshness(
            is_stale=self.stale,
            data_as_of=min(self.timestamps) if self.timestamps else None,
            stale_reasons=tuple(self.reasons),
        )

    def _stale(self, reason: str) -> None:
        self.stale = True
        if reason not in self.reasons:
            self.reasons.append(reason)


class _Inputs:
    """Marks, reconciliation times and pending outbox events, loaded once per answer (the
    last two: one query each per account)."""

    def __init__(self, now: datetime | None) -> None:
        self.now = now or timezone.now()
        self._marks: dict[str, dict[str, Mark]] = {}
        self._reconciled: dict[int, datetime | None] = {}
        self._pending: dict[int, PendingAccountEvent | None] = {}

    def mark(self, exchange: str, symbol: str) -> Mark | None:
        if exchange not in self._marks:
            self._marks[exchange] = {m.symbol: m for m in Mark.objects.filter(exchange=exchange)}
        return self._marks[exchange].get(symbol)

    def reconciled_at(self, account_id: int) -> datetime | None:
        if account_id not in self._reconciled:
            self._reconciled[account_id] = execution_selectors.last_successful_reconciliation_at(account_id)
        return self._reconciled[account_id]

    def pending_event(self, account_id: int) -> PendingAccountEvent | None:
        if account_id not in self._pending:
            self._pending[account_id] = execution_selectors.oldest_pending_account_event(account_id)
        return self._pending[account_id]

    def builder(self) -> _FreshnessBuilder:
        return _FreshnessBuilder(now=self.now)

    def note_account(self, builder: _FreshnessBuilder, account_id: int) -> None:
        """What every answer about the account depends on: its last successful reconciliation
        and its events still on their way from execution."""
        builder.reconciliation(account_id, self.reconciled_at(account_id))
        builder.pending_events(account_id, self.pending_event(account_id))

    def account_freshness(self, account_id: int) -> Freshness:
        builder = self.builder()
        self.note_account(builder, account_id)
        return builder.build()

    def rate(self, exchange: str, asset: str, target: str, builder: _FreshnessBuilder) -> Decimal | None:
        """Price of one `asset` in `target` from the marks (direct or inverted); None if unknown.
        The mark used (or missing) is noted in `builder`."""
        if asset == target:
            return Decimal(1)
        direct = self.mark(exchange, f"{asset}{target}")
        if direct is not None:
            builder.mark(direct.symbol, direct)
            return direct.price
        inverse = self.mark(exchange, f"{target}{asset}")
        if inverse is not None:
            builder.mark(inverse.symbol, inverse)
            with localcontext() as ctx:
                ctx.prec = 80
                return q18(1 / inverse.price)
        builder.mark(f"{asset}{target}", None)
        return None


# --- scoping ----------------------------------------------------------------------------------


def account_ids_for(user: User, account_id: int | None = None) -> list[int]:
    """The user's account ids (or just `account_id`, NotFound if it is not theirs)."""
    if account_id is not None:
        return [execution_selectors.get_account_for(user, account_id).pk]
    return list(execution_selectors.accounts_for(user).order_by("id").values_list("id", flat=True))


def _exchanges(account_ids: list[int]) -> dict[int, str]:
    return dict(ExchangeAccount.objects.filter(pk__in=account_ids).values_list("id", "exchange"))


# --- positions -----------------------------------------------------------------------------------


def positions(
    *,
    account_ids: list[int],
    symbol: str | None = None,
    include_flat: bool = True,
    now: datetime | None = None,
) -> tuple[list[PositionView], Freshness]:
    inputs = _Inputs(now)
    return _positions(inputs, account_ids=account_ids, symbol=symbol, include_flat=include_flat)


def _positions(
    inputs: _Inputs, *, account_ids: list[int], symbol: str | None = None, include_flat: bool = True
) -> tuple[list[PositionView], Freshness]:
    exchanges = _exchanges(account_ids)
    rows = Position.objects.filter(account_id__in=account_ids).order_by("account_id", "symbol")
    if symbol:
        rows = rows.filter(symbol=symbol)
    if not include_flat:
        rows = rows.exclude(quantity=0)
    overall = inputs.builder()
    for account_id in account_ids:
        overall.merge(inputs.account_freshness(account_id))
    views = []
    for row in rows:
        view = _position_view(inputs, row, exchanges[row.account_id])
        overall.merge(view.freshness)
        views.append(view)
    return views, overall.build()


def _position_view(inputs: _Inputs, row: Position, exchange: str) -> PositionView:
    builder = inputs.builder()
    inputs.note_account(builder, row.account_id)
    mark = inputs.mark(exchange, row.symbol)
    if row.quantity != 0:
        builder.mark(row.symbol, mark)
    market_value = unrealized = None
    if mark is not None:
        market_value = q18(row.quantity * mark.price)
        unrealized = q18(row.quantity * mark.price - row.cost_basis)
    elif row.quantity == 0:
        market_value, unrealized = ZERO, ZERO
    return PositionView(
        account_id=row.account_id,
        symbol=row.symbol,
        base_asset=row.base_asset,
        quote_asset=row.quote_asset,
        quantity=row.quantity,
        average_price=row.average_price,
        cost_basis=row.cost_basis,
        realized_pnl=row.realized_pnl,
        fees_paid=row.fees_paid,
        unconverted_fees={k: Decimal(v) for k, v in row.unconverted_fees.items()},
        mark_price=mark.price if mark else None,
        mark_as_of=mark.as_of if mark else None,
        market_value=market_value,
        unrealized_pnl=unrealized,
        version=row.version,
        last_fill_at=row.last_fill_at,
        updated_at=row.updated_at,
        freshness=builder.build(),
    )


def position_of(*, account_id: int, symbol: str, now: datetime | None = None) -> PositionView | None:
    """One account's position in a symbol (for risk), or None if it never traded it."""
    views, _ = positions(account_ids=[account_id], symbol=symbol, now=now)
    return views[0] if views else None


# --- balances ------------------------------------------------------------------------------------


def balances(*, account_ids: list[int], now: datetime | None = None) -> tuple[list[BalanceView], Freshness]:
    """Balances with their drift. Fresh when every account was reconciled recently and has no
    event held back or late in the outbox (balance reports and fills go through it)."""
    inputs = _Inputs(now)
    overall = inputs.builder()
    for account_id in account_ids:
        overall.merge(inputs.account_freshness(account_id))
    rows = Balance.objects.filter(account_id__in=account_ids).order_by("account_id", "asset")
    return [_balance_view(row) for row in rows], overall.build()


def _balance_view(row: Balance) -> BalanceView:
    reported_total = None
    unconfirmed = None
    if row.reported_at is not None:
        reported_total = (row.free or ZERO) + (row.locked or ZERO)
        unconfirmed = row.derived_total - reported_total
    return BalanceView(
        account_id=row.account_id,
        asset=row.asset,
        free=row.free,
        locked=row.locked,
        reported_total=reported_total,
        reported_at=row.reported_at,
        report_source=row.report_source,
        derived_total=row.derived_total,
        unconfirmed_change=unconfirmed,
        drift=row.drift,
        drift_since=row.drift_since,
        updated_at=row.updated_at,
    )


# --- exposure (risk) -------------------------------------------------------------------------------


def exposure_for_symbol(*, account_id: int, symbol: str, now: datetime | None = None) -> SymbolExposure:
    """The account's exposure in one symbol; zero when it holds none."""
    inputs = _Inputs(now)
    exchange = _exchanges([account_id])[account_id]
    row = Position.objects.filter(account_id=account_id, symbol=symbol).first()
    if row is None:
        builder = inputs.builder()
        builder.merge(inputs.account_freshness(account_id))
        mark = inputs.mark(exchange, symbol)
        return SymbolExposure(
            account_id=account_id,
            symbol=symbol,
            quote_asset="",
            quantity=ZERO,
            price=mark.price if mark else None,
            price_source=PriceSource.MARK if mark else PriceSource.NONE,
            notional=ZERO,
            exposure=ZERO,
            valuation_asset=valuation_asset(),
            exposure_valued=ZERO,
            freshness=builder.build(),
        )
    return _exposure(inputs, row, exchange)


def exposures_for_account(*, account_id: int, now: datetime | None = None) -> list[SymbolExposure]:
    """Exposure per symbol for every open (non-zero) position of the account."""
    return _exposures(_Inputs(now), account_id)


def _exposures(inputs: _Inputs, account_id: int) -> list[SymbolExposure]:
    exchange = _exchanges([account_id])[account_id]
    rows = Position.objects.filter(account_id=account_id).exclude(quantity=0).order_by("symbol")
    return [_exposure(inputs, row, exchange) for row in rows]


def total_exposure(*, account_id: int, now: datetime | None = None) -> TotalExposure:
    """Gross (sum of |notional|) and net exposure of the account in the valuation asset.

    A symbol that cannot be valued (no price, or no rate to the valuation asset) is listed in
    `unvalued_symbols` and makes the answer stale; it is not in the sums."""
    inputs = _Inputs(now)
    items = _exposures(inputs, account_id)
    builder = inputs.builder()
    builder.merge(inputs.account_freshness(account_id))
    gross = net = ZERO
    unvalued = []
    for item in items:
        builder.merge(item.freshness)
        if item.exposure_valued is None or item.notional is None or item.exposure is None:
            unvalued.append(item.symbol)
            continue
        gross += item.exposure_valued
        net += item.exposure_valued if item.notional >= 0 else -item.exposure_valued
    return TotalExposure(
        account_id=account_id,
        valuation_asset=valuation_asset(),
        gross=gross,
        net=net,
        unvalued_symbols=tuple(unvalued),
        freshness=builder.build(),
    )


def _exposure(inputs: _Inputs, row: Position, exchange: str) -> SymbolExposure:
    builder = inputs.builder()
    inputs.note_account(builder, row.account_id)
    mark = inputs.mark(exchange, row.symbol)
    price: Decimal | None
    if row.quantity == 0:
        price, source = (mark.price, PriceSource.MARK) if mark else (None, PriceSource.NONE)
    elif mark is not None:
        builder.mark(row.symbol, mark)
        price, source = mark.price, PriceSource.MARK
    else:
        # No mark: value at the entry price so limits still bite, and say it is stale.
        builder.mark(row.symbol, None)
        price, source = row.average_price, PriceSource.AVERAGE_PRICE
    notional = q18(row.quantity * price) if price is not None else (ZERO if row.quantity == 0 else None)
    exposure = abs(notional) if notional is not None else None
    valued = None
    if exposure is not None:
        if exposure == 0:
            valued = ZERO
        else:
            rate = inputs.rate(exchange, row.quote_asset, valuation_asset(), builder)
            valued = q18(exposure * rate) if rate is not None else None
    return SymbolExposure(
        account_id=row.account_id,
        symbol=row.symbol,
        quote_asset=row.quote_asset,
        quantity=row.quantity,
        price=price,
        price_source=source,
        notional=notional,
        exposure=exposure,
        valuation_asset=valuation_asset(),
        exposure_valued=valued,
        freshness=builder.build(),
    )


# --- PnL --------------------------------------------------------------------------------------------


def pnl(*, account_ids: list[int], now: datetime | None = None) -> PnlReport:
    """PnL per symbol (quote asset) and totals in the valuation asset, with equity."""
    inputs = _Inputs(now)
    target = valuation_asset()
    views, positions_freshness = _positions(inputs, account_ids=account_ids)
    exchanges = _exchanges(account_ids)
    overall = inputs.builder()
    overall.merge(positions_freshness)
    symbols: list[SymbolPnl] = []
    realized = unrealized = fees = gross = net = ZERO
    unvalued: list[str] = []
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    for view in views:
        builder = inputs.builder()
        builder.merge(view.freshness)
        rate = inputs.rate(exchanges[view.account_id], view.quote_asset, target, builder)
        row_net = view.net_pnl
        exposure = abs(view.market_value) if view.market_value is not None else None
        freshness = builder.build()
        overall.merge(freshness)
        symbols.append(
            SymbolPnl(
                account_id=view.account_id,
                symbol=view.symbol,
                quote_asset=view.quote_asset,
                quantity=view.quantity,
                realized_pnl=view.realized_pnl,
                unrealized_pnl=view.unrealized_pnl,
                fees_paid=view.fees_paid,
                unconverted_fees=view.unconverted_fees,
                net_pnl=row_net,
                exposure=exposure,
                valuation_rate=rate,
                freshness=freshness,
            )
        )
        for asset, amount in view.unconverted_fees.items():
            unconverted[asset] += amount
        if rate is None or view.unrealized_pnl is None or view.market_value is None:
            unvalued.append(view.symbol)
            continue
        realized += q18(view.realized_pnl * rate)
        unrealized += q18(view.unrealized_pnl * rate)
        fees += q18(view.fees_paid * rate)
        gross += q18(abs(view.market_value) * rate)
        net += q18(view.market_value * rate)
    equity = _equity(inputs, account_ids, exchanges, target, overall)
    totals = PnlTotals(
        valuation_asset=target,
        realized_pnl=realized,
        unrealized_pnl=unrealized,
        fees=fees,
        net_pnl=realized + unrealized - fees,
        gross_exposure=gross,
        net_exposure=net,
        equity=equity,
        unvalued=tuple(unvalued),
        unconverted_fees=dict(unconverted),
    )
    return PnlReport(symbols=symbols, totals=totals, freshness=overall.build())


def _equity(
    inputs: _Inputs,
    account_ids: list[int],
    exchanges: dict[int, str],
    target: str,
    builder: _FreshnessBuilder,
) -> Decimal | None:
    """Sum of the derived balances valued in `target`; None unless every account's balances
    have been reported by the venue at least once and every held asset can be valued."""
    if not account_ids:
        return None
    rows = list(Balance.objects.filter(account_id__in=account_ids))
    reported_accounts = {row.account_id for row in rows if row.reported_at is not None}
    if reported_accounts != set(account_ids):
        return None
    total = ZERO
    complete = True
    for row in rows:
        if row.derived_total == 0:
            continue
        rate = inputs.rate(exchanges[row.account_id], row.asset, target, builder)
        if rate is None:
            complete = False
            continue
        total += q18(row.derived_total * rate)
    return total if complete else None


# --- history ------------------------------------------------------------------------------------------


def pnl_history(*, account_ids: list[int], since: date, until: date) -> list[PnlSnapshotView]:
    rows = PnlSnapshot.objects.filter(account_id__in=account_ids, date__gte=since, date__lte=until).order_by(
        "date", "account_id"
    )
    return [
        PnlSnapshotView(
            account_id=row.account_id,
            date=row.date,
            valuation_asset=row.valuation_asset,
            realized_pnl=row.realized_pnl,
            unrealized_pnl=row.unrealized_pnl,
            fees=row.fees,
            net_pnl=row.net_pnl,
            daily_net_pnl=row.daily_net_pnl,
            equity=row.equity,
            gross_exposure=row.gross_exposure,
            net_exposure=row.net_exposure,
            is_stale=row.is_stale,
            data_as_of=row.data_as_of,
            stale_reasons=tuple(row.stale_reasons),
            taken_at=row.taken_at,
        )
        for row in rows
    ]


def accounts_freshness(*, account_ids: list[int], now: datetime | None = None) -> Freshness:
    """Freshness of the accounts' live PnL (what /pnl/ would say now)."""
    return pnl(account_ids=account_ids, now=now).freshness
