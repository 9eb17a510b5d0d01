"""Pre-trade validation: would this order break one of the account's limits?

Inputs: the account's limits (account-wide and the symbol's own), the position and
exposure from portfolio's selectors, and the exposure open orders already reserve (their
remaining buy quantity at their limit prices). Every limit is inclusive: an order exactly at
a limit is accepted. Sells on spot only reduce a long position, so position and exposure
limits do not stop them; order-notional and open-order limits apply to both sides.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal

import redis
from django.db import connection
from django.utils import timezone

from apps.execution import selectors as execution_selectors
from apps.execution.selectors import OpenOrderReservation
from apps.portfolio import selectors as portfolio_selectors
from apps.portfolio.domain import SymbolExposure
from apps.risk.models import RiskLimits

from . import approvals

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
_failing_seen: contextvars.ContextVar[bool] = contextvars.ContextVar("risk_failing_seen", default=True)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    limit: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Approval:
    approved: bool
    reasons: tuple[Reason, ...]
    limits_version: str
    checked_at: datetime
    cached: bool = False
    details: dict[str, str] = field(default_factory=dict)
    #: The verdict read the account's open orders, position, exposure or today's loss: order
    #: intake must then decide under the account's intake lock (execution's `submit_order`).
    reads_account_state: bool = False


@dataclass(frozen=True)
class LimitRow:
    """One limits row as the check needs it: its fields are RiskLimits columns (`_LIMIT_COLUMNS`)."""

    symbol: str
    version: int
    max_position_size: Decimal | None
    max_symbol_exposure: Decimal | None
    max_total_exposure: Decimal | None
    max_order_notional: Decimal | None
    max_open_orders: int | None
    max_daily_loss: Decimal | None


# The RiskLimits columns read, named and ordered as LimitRow's fields (rows are built by position).
_LIMIT_COLUMNS = tuple(f.name for f in fields(LimitRow))


@functools.cache
def _limits_statement() -> str:
    """`_read_limits`' SQL, from model metadata: built once, not on every order."""
    table = connection.ops.quote_name(RiskLimits._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _LIMIT_COLUMNS)
    return (
        f"SELECT {columns} FROM {table} "  # noqa: S608 - model metadata
        "WHERE account_id = %s AND symbol IN ('', %s) ORDER BY symbol"
    )


def _read_limits(account_id: int, symbol: str) -> list[LimitRow]:
    """The rows, by one plain statement (what the ORM query sent, without building it and
    model instances on every order: a third of this read's cost). Read from PostgreSQL on
    every check, so a version bumped by any writer is seen at once."""
    with connection.cursor() as cursor:
        cursor.execute(_limits_statement(), [account_id, symbol])
        return [LimitRow(*row) for row in cursor.fetchall()]


def _limits(
    account_id: int, symbol: str, snap: approvals.Snapshot | None
) -> tuple[list[LimitRow], str | None]:
    """The account's limits for `symbol` (account-wide first) and the approval epoch (None:
    Redis could not be read; the approval cache then reads it itself and fails safe).

    The epoch and the health mark (`failing-since`) come in one `MGET`, instead of a `GET`
    here and a `DEL` after every check — or from the caller, who read them just before
    (`snapshot`, in one round trip with the kill switch). Either way they are read before
    the rows, which the epoch's invalidation relies on."""
    if snap is None:
        try:
            snap = approvals.snapshot(account_id=account_id)
        except redis.RedisError:
            return _read_limits(account_id, symbol), None
    _failing_seen.set(snap.failing)
    return _read_limits(account_id, symbol), snap.epoch or "0"


def failures_seen() -> bool:
    """Whether the last `validate_order` in this context saw validation failures recorded
    (True when it could not tell): the gate clears the mark only then."""
    return _failing_seen.get()


def _version_tag(rows: list[LimitRow]) -> str:
    return "-".join(f"{r.symbol or '*'}{r.version}" for r in rows) or "none"


def validate_order(
    *,
    account_id: int,
    symbol: str,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal | None,
    use_cache: bool = True,
    snapshot: approvals.Snapshot | None = None,
    before_state_read: Callable[[], None] | None = None,
) -> Approval:
    """`snapshot`: the account's `approvals.snapshot`, when the caller has just read it.
    `before_state_read`: called once, before the check reads the account's state, when the
    verdict depends on it (order intake takes the account's intake lock there).

    The approval cache serves only verdicts that depend on nothing but the order's terms, the
    limits rows (their versions are in the key) and the mark price: rows with only
    `max_order_notional`, and sells under rows whose other limits apply to buys only. A verdict
    that reads the account's state — open orders, position, exposure, today's loss
    (`_reads_account_state`) — is computed afresh every time and never stored: a cached one
    would not count the orders accepted since (five identical orders all passing
    `max_open_orders=1` within the TTL), and order intake relies on the check seeing every
    order accepted before it (execution holds the account's intake lock around check and
    insert). With no rows the check is free, so the cache is skipped too (no Redis `GET`)."""
    _failing_seen.set(True)
    rows, epoch = _limits(account_id, symbol, snapshot)
    version = _version_tag(rows)
    key = None
    stateful = _reads_account_state(rows, buying=side == "BUY")
    if use_cache and rows and not stateful:
        try:
            order_print = approvals.fingerprint(
                symbol=symbol, side=side, order_type=order_type, quantity=quantity, price=price
            )
            key = approvals.cache_key(
                account_id=account_id, order_fingerprint=order_print, limits_version=version, epoch=epoch
            )
        except Exception:  # noqa: BLE001 - no cache, a fresh check
            key = None
        cached = approvals.get_cached(key) if key else None
        if cached is not None:
            return _from_json(cached)
    if stateful and before_state_read is not None:
        before_state_read()
    approval = _check(account_id, symbol, side, quantity, price, rows, version)
    if key:
        approvals.put_cached(key, _to_json(approval))
    return replace(approval, reads_account_state=True) if stateful else approval


def _reads_account_state(rows: list[LimitRow], *, buying: bool) -> bool:
    """Whether the check of these rows reads the account's open orders, position, exposure or
    today's loss: the limits `_check_row` applies with them, for this side."""
    for row in rows:
        if row.max_open_orders is not None:
            return True
        if buying and (row.max_position_size is not None or row.max_symbol_exposure is not None):
            return True
        if (
            buying
            and not row.symbol
            and (row.max_total_exposure is not None or row.max_daily_loss is not None)
        ):
            return True
    return False


def _check(
    account_id: int,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal | None,
    rows: list[LimitRow],
    version: str,
) -> Approval:
    now = timezone.now()
    if not rows:
        return Approval(True, (), version, now)
    exposure = portfolio_selectors.exposure_for_symbol(account_id=account_id, symbol=symbol, now=now)
    reference = price if price is not None else exposure.price
    buying = side == "BUY"
    reasons: list[Reason] = []
    # Open-order reservations per scope (None: the whole account), each read once and only
    # when a limit needs it: the account row and the symbol row share them.
    reservations = functools.cache(
        lambda scope: execution_selectors.open_order_reservation(account_id, scope)
    )
    for row in rows:
        reasons += _check_row(
            row, account_id, symbol, buying, quantity, reference, exposure, now, reservations
        )
    return Approval(not reasons, tuple(reasons), version, now, details={"reference_price": str(reference)})


def _check_row(
    row: LimitRow,
    account_id: int,
    symbol: str,
    buying: bool,
    quantity: Decimal,
    reference: Decimal | None,
    exposure: SymbolExposure,
    now: datetime,
    reservations: Callable[[str | None], OpenOrderReservation],
) -> list[Reason]:
    reasons: list[Reason] = []
    needs_price = any(
        v is not None for v in (row.max_order_notional, row.max_symbol_exposure, row.max_total_exposure)
    )
    if needs_price and reference is None:
        return [Reason("no_reference_price", f"No price to value a {symbol} order against the limits.")]
    notional = quantity * reference if reference is not None else ZERO

    def over(code: str, limit: Decimal | int, value: Decimal | int, what: str) -> None:
        if value > limit:
            reasons.append(
                Reason(code, f"{what} {value} would exceed the limit {limit}.", str(limit), str(value))
            )

    if row.max_order_notional is not None:
        over("max_order_notional", row.max_order_notional, notional, "Order notional")
    if row.max_open_orders is not None:
        open_orders = reservations(row.symbol or None).open_orders
        over("max_open_orders", row.max_open_orders, open_orders + 1, "Open orders")
    if buying:
        if row.max_position_size is not None:
            symbol_reserved = reservations(symbol)
            projected = exposure.quantity + symbol_reserved.buy_quantity + quantity
            over("max_position_size", row.max_position_size, projected, "Position")
        if row.max_symbol_exposure is not None:
            symbol_reserved = reservations(symbol)
            projected_exposure = (exposure.exposure or ZERO) + symbol_reserved.buy_notional + notional
            over("max_symbol_exposure", row.max_symbol_exposure, projected_exposure, f"{symbol} exposure")
        if row.max_total_exposure is not None and not row.symbol:
            total = portfolio_selectors.total_exposure(account_id=account_id, now=now)
            all_reserved = reservations(None)
            over(
                "max_total_exposure",
                row.max_total_exposure,
                total.gross + all_reserved.buy_notional + notional,
                "Total exposure",
            )
        if row.max_daily_loss is not None and not row.symbol:
            over("max_daily_loss", row.max_daily_loss, daily_loss(account_id, now), "Today's loss")
    return reasons


def daily_loss(account_id: int, now: datetime) -> Decimal:
    """Loss since the start of the UTC day: net PnL now against the last snapshot before today
    (since inception when there is none). Positive when losing."""
    report = portfolio_selectors.pnl(account_ids=[account_id], now=now)
    today = now.date()
    history = portfolio_selectors.pnl_history(
        account_ids=[account_id], since=today - timedelta(days=7), until=today - timedelta(days=1)
    )
    baseline = history[-1].net_pnl if history else ZERO
    return max(ZERO, baseline - report.totals.net_pnl)


def _to_json(approval: Approval) -> dict[str, object]:
    data = asdict(approval)
    data["checked_at"] = approval.checked_at.isoformat()
    return data


def _from_json(data: dict[str, object]) -> Approval:
    return Approval(
        approved=bool(data["approved"]),
        reasons=tuple(Reason(**r) for r in data["reasons"]),  # type: ignore[attr-defined]
        limits_version=str(data["limits_version"]),
        checked_at=datetime.fromisoformat(str(data["checked_at"])),
        cached=True,
        details=dict(data.get("details") or {}),  # type: ignore[call-overload]
    )
