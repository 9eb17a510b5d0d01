"""The invariant checker: our books against the venue's ledger, per account and symbol.

Pure: it takes plain snapshots (`AccountBooks`, kill-switch intervals, the API client's
requests) and returns discrepancies, so its tests can doctor the data and prove that each
kind is caught. `ledger.py` builds the snapshots from the database and the simulator.

The rules (docs/RELIABILITY.md has the reasoning):

- fills: every venue trade appears exactly once as a fill, with the venue's quantity, price,
  commission and order; no fill exists that the venue did not trade;
- orders: every venue order is one of ours, once; our status and cumulative quantity equal
  the venue's; an order of ours the venue never saw is REJECTED, or was CANCELED before any
  send attempt;
  nothing is left half-way (NEW, CANCEL_REQUESTED) once the run has settled;
- positions: per symbol, our quantity is the signed sum of the venue's trades less the
  commissions they charged in the base asset (what the wallet holds through them);
- balances: per asset, our derived total and the venue's own total both equal the initial
  balance plus every trade's legs and commissions;
- kill switch: no order reached the venue while the switch was on (`kill_switch_breaches`);
- client retries: a retried API request (same Idempotency-Key, or same client_order_id under
  a new key) never produced a second order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)

# Discrepancy kinds (stable names: the report and the tests use them).
FILL_MISSING = "fill_missing"
FILL_DUPLICATED = "fill_duplicated"
FILL_UNKNOWN = "fill_unknown"
FILL_MISMATCH = "fill_mismatch"
ORDER_UNKNOWN = "order_unknown"
ORDER_DUPLICATED = "order_duplicated_on_venue"
ORDER_MISSING_ON_VENUE = "order_missing_on_venue"
ORDER_STATUS_MISMATCH = "order_status_mismatch"
ORDER_QUANTITY_MISMATCH = "order_quantity_mismatch"
ORDER_UNSETTLED = "order_unsettled"
POSITION_MISMATCH = "position_mismatch"
BALANCE_MISMATCH = "balance_mismatch"
VENUE_BALANCE_MISMATCH = "venue_balance_mismatch"
KILL_SWITCH_BREACH = "kill_switch_breach"
RETRY_DUPLICATE = "retry_created_second_order"

KINDS = (
    FILL_MISSING, FILL_DUPLICATED, FILL_UNKNOWN, FILL_MISMATCH, ORDER_UNKNOWN, ORDER_DUPLICATED,
    ORDER_MISSING_ON_VENUE, ORDER_STATUS_MISMATCH, ORDER_QUANTITY_MISMATCH, ORDER_UNSETTLED,
    POSITION_MISMATCH, BALANCE_MISMATCH, VENUE_BALANCE_MISMATCH, KILL_SWITCH_BREACH, RETRY_DUPLICATE,
)  # fmt: skip

#: Our status for each venue status once both sides have settled.
EXPECTED_STATUS = {
    "NEW": "SUBMITTED",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "EXPIRED": "EXPIRED",
    "REJECTED": "REJECTED",
}
UNSETTLED = ("NEW", "CANCEL_REQUESTED")


@dataclass(frozen=True)
class VenueTrade:
    symbol: str
    trade_id: int
    client_order_id: str
    side: str
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str


@dataclass(frozen=True)
class VenueOrder:
    symbol: str
    client_order_id: str
    status: str
    executed_quantity: Decimal
    created_at: datetime  # when the venue accepted it: the moment it "reached" the venue


@dataclass(frozen=True)
class BookFill:
    symbol: str
    exchange_fill_id: int
    client_order_id: str
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str


@dataclass(frozen=True)
class BookOrder:
    symbol: str
    client_order_id: str
    status: str
    filled_quantity: Decimal
    #: Times of the order's `submission_attempt` events: each is written and committed just
    #: before that attempt reads the kill switch and sends (services.send_order_to_exchange).
    attempts: tuple[datetime, ...] = ()
    is_external: bool = False


@dataclass
class AccountBooks:
    """One account's books and the venue's ledger for it, at the end of a settled run."""

    label: str
    assets: dict[str, tuple[str, str]]  # symbol -> (base asset, quote asset)
    initial_balances: dict[str, Decimal]
    venue_trades: list[VenueTrade] = field(default_factory=list)
    venue_orders: list[VenueOrder] = field(default_factory=list)
    venue_balances: dict[str, Decimal] = field(default_factory=dict)  # free + locked
    fills: list[BookFill] = field(default_factory=list)
    orders: list[BookOrder] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)  # symbol -> signed quantity
    balances: dict[str, Decimal] = field(default_factory=dict)  # asset -> derived total


@dataclass(frozen=True)
class KillSwitchInterval:
    """The switch was certainly on from `start` (the activation had been stored) until `end`
    (before the deactivation began); `end` None: still on at the end of the run."""

    start: datetime
    end: datetime | None
    actor: str = ""

    def contains(self, moment: datetime) -> bool:
        return self.start < moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class ClientRequest:
    """One HTTP request of the API client that creates an order (first try or a retry)."""

    client_order_id: str
    idempotency_key: str
    status_code: int
    order_id: int | None  # the order id the answer named (None: refused / no answer)
    retry: str = ""  # "", "same_key" or "same_client_order_id"


@dataclass(frozen=True)
class Discrepancy:
    kind: str
    account: str
    symbol: str
    detail: str


@dataclass
class CheckResult:
    discrepancies: list[Discrepancy]
    #: Orders that reached the venue inside a kill-switch interval but had been checked and
    #: sent before it began (in flight at activation): (client order id, seconds after start).
    in_flight_at_activation: list[tuple[str, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(d.kind for d in self.discrepancies))


def check(
    accounts: Iterable[AccountBooks],
    *,
    kill_switch: Iterable[KillSwitchInterval] = (),
    client_requests: Iterable[ClientRequest] = (),
    in_flight_allowance: timedelta = timedelta(seconds=2),
) -> CheckResult:
    """Every invariant over every account; an empty list of discrepancies means the books hold."""
    intervals = list(kill_switch)
    result = CheckResult(discrepancies=[])
    for books in accounts:
        result.discrepancies += check_fills(books)
        result.discrepancies += check_orders(books)
        result.discrepancies += check_positions(books)
        result.discrepancies += check_balances(books)
        breaches, in_flight = check_kill_switch(books, intervals, in_flight_allowance)
        result.discrepancies += breaches
        result.in_flight_at_activation += in_flight
    result.discrepancies += check_client_retries(list(client_requests))
    return result


def check_fills(books: AccountBooks) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    trades = {(t.symbol, t.trade_id): t for t in books.venue_trades}
    fills: dict[tuple[str, int], list[BookFill]] = defaultdict(list)
    for fill in books.fills:
        fills[(fill.symbol, fill.exchange_fill_id)].append(fill)
    for key, trade in sorted(trades.items()):
        booked = fills.get(key, [])
        if not booked:
            what = f"{trade.side} {trade.quantity} @ {trade.price}, {trade.client_order_id}"
            found.append(_d(FILL_MISSING, books, trade.symbol, f"venue trade {trade.trade_id} ({what})"))
            continue
        if len(booked) > 1:
            found.append(
                _d(FILL_DUPLICATED, books, trade.symbol, f"trade {trade.trade_id} booked {len(booked)} times")
            )
        fill = booked[0]
        ours = (fill.client_order_id, fill.quantity, fill.price, fill.commission, fill.commission_asset)
        theirs = (
            trade.client_order_id,
            trade.quantity,
            trade.price,
            trade.commission,
            trade.commission_asset,
        )
        if ours != theirs:
            found.append(
                _d(FILL_MISMATCH, books, trade.symbol, f"trade {trade.trade_id}: ours {ours}, venue {theirs}")
            )
    for key in sorted(set(fills) - set(trades)):
        found.append(_d(FILL_UNKNOWN, books, key[0], f"fill {key[1]} is not a venue trade"))
    return found


def check_orders(books: AccountBooks) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    venue: dict[tuple[str, str], list[VenueOrder]] = defaultdict(list)
    for order in books.venue_orders:
        venue[(order.symbol, order.client_order_id)].append(order)
    ours = {(o.symbol, o.client_order_id): o for o in books.orders}
    for (symbol, cid), copies in sorted(venue.items()):
        if len(copies) > 1:
            found.append(_d(ORDER_DUPLICATED, books, symbol, f"{cid} reached the venue {len(copies)} times"))
        mine = ours.get((symbol, cid))
        if mine is None or mine.is_external:
            found.append(_d(ORDER_UNKNOWN, books, symbol, f"venue order {cid} is not one we placed"))
            continue
        found += _compare_order(books, mine, copies[-1])
    for (symbol, cid), mine in sorted(ours.items()):
        if (symbol, cid) in venue or mine.is_external:
            continue
        if mine.status in UNSETTLED:
            found.append(_d(ORDER_UNSETTLED, books, symbol, f"{cid} still {mine.status}"))
        elif not _may_be_unknown_to_venue(mine):
            detail = f"{cid} is {mine.status} here ({len(mine.attempts)} send attempts), unknown there"
            found.append(_d(ORDER_MISSING_ON_VENUE, books, symbol, detail))
    return found


def _may_be_unknown_to_venue(order: BookOrder) -> bool:
    """REJECTED: refused before it left, by the venue, or found lost by reconciliation. An
    order canceled (or expired) before any send attempt never left either."""
    return order.status == "REJECTED" or (order.status in ("CANCELED", "EXPIRED") and not order.attempts)


def _compare_order(books: AccountBooks, mine: BookOrder, theirs: VenueOrder) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    cid = mine.client_order_id
    if mine.status in UNSETTLED:
        found.append(
            _d(ORDER_UNSETTLED, books, mine.symbol, f"{cid} still {mine.status} (venue {theirs.status})")
        )
    elif EXPECTED_STATUS.get(theirs.status) != mine.status:
        found.append(
            _d(ORDER_STATUS_MISMATCH, books, mine.symbol, f"{cid}: ours {mine.status}, venue {theirs.status}")
        )
    if mine.filled_quantity != theirs.executed_quantity:
        detail = f"{cid}: filled {mine.filled_quantity} here, {theirs.executed_quantity} there"
        found.append(_d(ORDER_QUANTITY_MISMATCH, books, mine.symbol, detail))
    return found


def derived_positions(trades: Iterable[VenueTrade], assets: dict[str, tuple[str, str]]) -> dict[str, Decimal]:
    """Signed sum of the trades, less the commissions taken in the base asset."""
    positions: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for trade in trades:
        positions[trade.symbol] += trade.quantity if trade.side == "BUY" else -trade.quantity
        if trade.commission_asset == assets[trade.symbol][0]:
            positions[trade.symbol] -= trade.commission
    return dict(positions)


def check_positions(books: AccountBooks) -> list[Discrepancy]:
    expected = derived_positions(books.venue_trades, books.assets)
    found = []
    for symbol in sorted(set(expected) | set(books.positions)):
        want, have = expected.get(symbol, ZERO), books.positions.get(symbol, ZERO)
        if want != have:
            found.append(_d(POSITION_MISMATCH, books, symbol, f"ours {have}, from the venue's trades {want}"))
    return found


def derived_balances(books: AccountBooks) -> dict[str, Decimal]:
    """Initial balances moved by every venue trade: the legs, then the commission."""
    balances: dict[str, Decimal] = defaultdict(lambda: ZERO, books.initial_balances)
    for trade in books.venue_trades:
        base, quote = books.assets[trade.symbol]
        sign = 1 if trade.side == "BUY" else -1
        balances[base] += sign * trade.quantity
        balances[quote] -= sign * trade.quote_quantity
        balances[trade.commission_asset] -= trade.commission
    return dict(balances)


def check_balances(books: AccountBooks) -> list[Discrepancy]:
    expected = derived_balances(books)
    found = []
    for asset in sorted(set(expected) | set(books.balances) | set(books.venue_balances)):
        want = expected.get(asset, ZERO)
        ours, venue = books.balances.get(asset, ZERO), books.venue_balances.get(asset, ZERO)
        if ours != want:
            found.append(_d(BALANCE_MISMATCH, books, asset, f"ours {ours}, from the venue's trades {want}"))
        if venue != want:
            found.append(
                _d(VENUE_BALANCE_MISMATCH, books, asset, f"venue says {venue}, its trades give {want}")
            )
    return found


def check_kill_switch(
    books: AccountBooks, intervals: list[KillSwitchInterval], allowance: timedelta
) -> tuple[list[Discrepancy], list[tuple[str, float]]]:
    """No order reached the venue while the switch was on.

    An order "reached the venue" at the venue's acceptance time. Inside an interval it is a
    breach unless it was already in flight when the switch went on: its last send attempt
    before arriving was recorded before the interval began (the attempt's kill-switch check
    follows its record, so a later record means a later check, which must have refused), and
    it arrived within `allowance` of the activation (a check-then-send is not atomic; the
    allowance bounds how long a send already past its check may take).
    """
    found: list[Discrepancy] = []
    in_flight: list[tuple[str, float]] = []
    ours = {(o.symbol, o.client_order_id): o for o in books.orders}
    for order in books.venue_orders:
        interval = next((i for i in intervals if i.contains(order.created_at)), None)
        if interval is None:
            continue
        mine = ours.get((order.symbol, order.client_order_id))
        attempts = [a for a in (mine.attempts if mine else ()) if a <= order.created_at]
        lag = (order.created_at - interval.start).total_seconds()
        where = f"{order.client_order_id} reached the venue {lag:.3f}s after the switch went on"
        if not attempts:
            found.append(_d(KILL_SWITCH_BREACH, books, order.symbol, f"{where}; no send attempt of ours"))
        elif max(attempts) >= interval.start:
            found.append(_d(KILL_SWITCH_BREACH, books, order.symbol, f"{where}; sent after it went on"))
        elif order.created_at - interval.start > allowance:
            found.append(
                _d(KILL_SWITCH_BREACH, books, order.symbol, f"{where}; in flight longer than {allowance}")
            )
        else:
            in_flight.append((order.client_order_id, lag))
    return found, in_flight


def check_client_retries(requests: list[ClientRequest]) -> list[Discrepancy]:
    """Every request for one client order id, and every use of one key, named one order."""
    found = []
    for attr in ("client_order_id", "idempotency_key"):
        named: dict[str, set[int]] = defaultdict(set)
        for request in requests:
            if request.order_id is not None:
                named[getattr(request, attr)].add(request.order_id)
        for value, ids in sorted(named.items()):
            if len(ids) > 1:
                detail = f"requests with {attr} {value} created orders {sorted(ids)}"
                found.append(Discrepancy(RETRY_DUPLICATE, "api-client", "", detail))
    return found


def _d(kind: str, books: AccountBooks, symbol: str, detail: str) -> Discrepancy:
    return Discrepancy(kind=kind, account=books.label, symbol=symbol, detail=detail)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
