"""A pure, deterministic matching engine for spot accounts trading against a price feed.

The local Binance-compatible simulator (`apps.exchange.simulator`) and the backtester both
use it, so a fill in a backtest is computed by exactly the code that fills an order on the
simulated live path. No I/O, no wall clock, no Django models: time comes in as `now_ms`,
every amount is a Decimal, and the same calls in the same order produce the same events.

The market model (docs/SIMULATOR.md has the long form):

- There is no order book, only a last price per symbol moved by `on_price` / `on_candle`.
  The accounts' orders trade against "the market" at that price.
- MARKET fills at once at the current price, moved against the order by `slippage_bps` and
  rounded to the tick away from the order (buys up, sells down).
- LIMIT buy fills when price <= limit, sell when price >= limit, at the limit price, as
  maker. A LIMIT that already crosses when placed trades at once as taker at the current
  price (never worse than its limit). A LIMIT_MAKER that would cross is rejected (-2010).
- `liquidity_per_tick` caps the quantity filled per symbol, side and price tick (unlimited by
  default): that is how partial fills happen. Resting orders share it best price first, then
  oldest first. Orders placed between ticks use what the current tick has left.
- `on_candle` walks open → low → high → close when close >= open (a rising candle dips first),
  else open → high → low → close. Each of the four points is one tick.
- Fees: commission is charged in the asset received (base on buys, quote on sells): the
  maker or taker rate times the amount received, rounded half-up to 8 decimals.
- Balances: an open order locks what it may spend (quote at the limit price for buys, base
  for sells); fills spend from the lock and a fill at a better price refunds the difference.

Errors are `EngineError(code, message)` with Binance's codes and texts, because the
simulator returns them verbatim and the backtester reports them the way live trading would.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import MISSING, dataclass, field, fields, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Context, Decimal, getcontext, localcontext
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from apps.core.domain import (
    OrderType,
    Side,
    SymbolFilters,
    TimeInForce,
    _check_notional,  # the validator's own notional check (`check_notional`)
    conform_to_filters,
)
from apps.core.errors import ErrorCode, ValidationFailed

ZERO = Decimal(0)
#: The members the fill model compares with, bound once: reading an enum member off its class
#: goes through the enum's metaclass (~0.08 µs, several times per fill).
_BUY, _MARKET = Side.BUY, OrderType.MARKET
COMMISSION_QUANTUM = Decimal("1e-8")
#: Binance's base/quote asset precision: more decimals than this is error -1111.
MAX_DECIMALS = 8
_BPS = Decimal(10000)
#: Working precision for amounts: far above NUMERIC(38, 18) products, so nothing rounds silently.
_PRECISION = 80


class ExecutionType(StrEnum):
    """Binance executionReport `x`."""

    NEW = "NEW"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    TRADE = "TRADE"
    EXPIRED = "EXPIRED"


class VenueOrderStatus(StrEnum):
    """Binance order status `X` (the venue's statuses, not our own order state machine's)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (VenueOrderStatus.NEW, VenueOrderStatus.PARTIALLY_FILLED)


class EngineError(Exception):
    """An order or query refused with Binance's error code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# Binance's codes and texts, in one place so the simulator and the tests agree on them.
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
WOULD_TAKE = "Order would immediately match and take."
UNKNOWN_ORDER = "Unknown order sent."
NO_SUCH_ORDER = "Order does not exist."


def invalid_symbol() -> EngineError:
    return EngineError(-1121, "Invalid symbol.")


def mandatory(name: str) -> EngineError:
    return EngineError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> EngineError:
    return EngineError(-1106, f"Parameter '{name}' sent when not required.")


def too_precise(name: str) -> EngineError:
    return EngineError(-1111, f"Parameter '{name}' has too much precision.")


def filter_failure(name: str) -> EngineError:
    return EngineError(-1013, f"Filter failure: {name}")


def new_order_rejected(message: str) -> EngineError:
    return EngineError(-2010, message)


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Record = TypeVar("_Record", bound="DataclassInstance")


def slot_init(cls: type[_Record]) -> type[_Record]:
    """Give a frozen, slotted dataclass an `__init__` that stores each field through its slot's
    descriptor instead of through `object.__setattr__` (what `dataclass(frozen=True)`
    generates): the same parameters and defaults, the same object, in about half the time.
    The engine builds an Order per change and a Trade per fill (the backtester tens of
    thousands per run). Instances stay frozen (`__setattr__` still raises); `replace` and
    keyword construction go through this `__init__` too. apps/exchange/tests/test_records.py
    compares it with the generated one."""
    params: list[str] = []
    body: list[str] = []
    namespace: dict[str, object] = {}
    for f in fields(cls):
        if not f.init or f.kw_only or f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported")
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__  # the slot's member descriptor
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - source built above from the class's own field names
    init: Any = namespace["__init__"]
    init.__annotations__ = dict(vars(cls)["__init__"].__annotations__)  # the generated one's
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Commission rates as fractions (0.001 = 0.1 %, Binance's default spot rate)."""

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")


@slot_init
@dataclass(frozen=True, slots=True)
class Order:
    """One order as the venue sees it, after some change. Immutable: each change is a copy."""

    order_id: int
    account: str
    symbol: str
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce | None
    quantity: Decimal
    price: Decimal | None
    status: VenueOrderStatus
    executed_quantity: Decimal
    cumulative_quote: Decimal
    created_ms: int
    updated_ms: int
    quote_order_qty: Decimal = ZERO
    #: Quote locked per unit of a buy (the limit price, or the MARKET execution price).
    lock_price: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_quantity

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_working(self) -> bool:
        """On the book (Binance `isWorking`/`w`): an open order that is not a MARKET order."""
        return self.is_open and self.order_type != OrderType.MARKET


@slot_init
@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one order (Binance myTrades row); `trade_id` increases per symbol."""

    symbol: str
    trade_id: int
    order_id: int
    account: str
    client_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A Binance executionReport: `order` is the state after the change (X, z, Z, q, p, …).

    `client_order_id` is `c` (the cancel request's id on CANCELED, as Binance sends it),
    `orig_client_order_id` is `C` ("" unless canceled); `trade` carries l, L, Y, n, N, t, m.
    """

    account: str
    event_time: int
    execution_type: ExecutionType
    order: Order
    client_order_id: str
    orig_client_order_id: str = ""
    trade: Trade | None = None
    reject_reason: str = "NONE"


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """A Binance outboundAccountPosition: the balances of the assets that changed."""

    account: str
    event_time: int
    balances: tuple[Balance, ...]


Event = ExecutionReport | AccountPosition


@dataclass(frozen=True, slots=True)
class Placement:
    """The outcome of `place_order`: the order after immediate matching, its fills, events."""

    order: Order
    trades: tuple[Trade, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Cancellation:
    order: Order
    events: tuple[Event, ...]


def candle_path(open_: Decimal, high: Decimal, low: Decimal, close: Decimal) -> tuple[Decimal, ...]:
    """The price path a candle stands for: a rising (or flat) candle is taken to dip first,
    O → L → H → C; a falling one to rise first, O → H → L → C. The usual backtesting
    convention: the extreme nearer the open is visited first."""
    if close >= open_:
        return (open_, low, high, close)
    return (open_, high, low, close)


def exact_arithmetic() -> AbstractContextManager[Context]:
    """Arithmetic at a precision where products of stored values never round (the caller's
    context with `prec` raised). Every amount below (and the shared fill-model functions) is
    computed inside it. A plain `localcontext`, not a generator: it is entered per call."""
    return localcontext(prec=_PRECISION)


def exact_context() -> Context:
    """The context `exact_arithmetic()` enters, as an object (the caller's context, copied,
    with `prec` raised): for a caller that switches to it many times (the backtester's
    batched Swing path, once per order) without building it each time."""
    context = getcontext().copy()
    context.prec = _PRECISION
    return context


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(slots=True)
class _Market:
    filters: SymbolFilters
    price: Decimal | None
    liquidity_per_tick: Decimal | None
    #: What is left of this tick's liquidity per side (None = unlimited).
    available: dict[Side, Decimal | None] = field(default_factory=dict)
    next_trade_id: int = 1

    def reset_liquidity(self) -> None:
        self.available = {Side.BUY: self.liquidity_per_tick, Side.SELL: self.liquidity_per_tick}


@dataclass(slots=True)
class Account:
    """One account's balances and fee rates (free and locked per asset)."""

    fees: FeeSchedule
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    # Engine time (ms) of the last balance change: Binance's account `updateTime`.
    updated_ms: int = 0

    def balance(self, asset: str) -> Balance:
        return Balance(asset, self.free.get(asset, ZERO), self.locked.get(asset, ZERO))

    def move(self, asset: str, *, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + free
        self.locked[asset] = self.locked.get(asset, ZERO) + locked


class _Batch:
    """Collects one operation's events; balance changes are reported once, at the end."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.events: list[Event] = []
        self.trades: list[Trade] = []
        self.touched: dict[str, list[str]] = {}

    def touch(self, account: str, *assets: str) -> None:
        changed = self.touched.setdefault(account, [])
        changed.extend(a for a in assets if a not in changed)


class MatchingEngine:
    """Accounts, orders and balances for a set of symbols, matched against a price feed.

    Single-threaded: callers serialise access (the simulator holds a lock around it).
    """

    def __init__(
        self, *, fees: FeeSchedule | None = None, slippage_bps: Decimal = ZERO, now_ms: int = 0
    ) -> None:
        self._default_fees = fees or FeeSchedule()
        self._slippage_bps = slippage_bps
        self._now_ms = now_ms
        self._markets: dict[str, _Market] = {}
        self._accounts: dict[str, Account] = {}
        self._orders: dict[int, Order] = {}
        self._open: dict[int, Order] = {}
        self._trades: dict[str, list[Trade]] = {}
        self._next_order_id = 1

    # -- set-up ---------------------------------------------------------------------------

    def add_symbol(
        self,
        filters: SymbolFilters,
        *,
        price: Decimal | None = None,
        liquidity_per_tick: Decimal | None = None,
    ) -> None:
        market = _Market(filters=filters, price=price, liquidity_per_tick=liquidity_per_tick)
        market.reset_liquidity()
        self._markets[filters.symbol] = market
        self._trades.setdefault(filters.symbol, [])

    def set_liquidity(self, symbol: str, liquidity_per_tick: Decimal | None) -> None:
        market = self._market(symbol)
        market.liquidity_per_tick = liquidity_per_tick
        market.reset_liquidity()

    def open_account(
        self, account: str, balances: Mapping[str, Decimal], *, fees: FeeSchedule | None = None
    ) -> None:
        """Create (or reset) an account with these free balances."""
        state = Account(fees=fees or self._default_fees)
        for asset, amount in balances.items():
            state.move(asset, free=amount)
        state.updated_ms = self._now_ms
        self._accounts[account] = state

    # -- reads ----------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self._now_ms

    def symbols(self) -> list[SymbolFilters]:
        return [m.filters for m in self._markets.values()]

    def filters(self, symbol: str) -> SymbolFilters:
        return self._market(symbol).filters

    def price(self, symbol: str) -> Decimal | None:
        return self._market(symbol).price

    def fees(self, account: str) -> FeeSchedule:
        return self._account(account).fees

    def balances(self, account: str) -> dict[str, Balance]:
        state = self._account(account)
        assets = sorted(set(state.free) | set(state.locked))
        return {asset: state.balance(asset) for asset in assets}

    def balances_updated_ms(self, account: str) -> int:
        """When the account's balances last changed (engine ms): every trade up to and
        including that instant is in `balances`, none after it."""
        return self._account(account).updated_ms

    def get_order(
        self, account: str, *, symbol: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """The order by id, or the newest one with this client id; -2013 if there is none."""
        self._market(symbol)
        for order in self._candidates(account, symbol, order_id, client_order_id, self._orders):
            return order
        raise EngineError(-2013, NO_SUCH_ORDER)

    def open_orders(self, account: str, symbol: str | None = None) -> list[Order]:
        return [
            o for o in self._open.values() if o.account == account and (symbol is None or o.symbol == symbol)
        ]

    def orders(self, account: str, symbol: str) -> list[Order]:
        return [o for o in self._orders.values() if o.account == account and o.symbol == symbol]

    def trades(self, account: str, symbol: str | None = None) -> list[Trade]:
        symbols = [symbol] if symbol is not None else list(self._trades)
        found = [t for s in symbols for t in self._trades.get(s, []) if t.account == account]
        return sorted(found, key=lambda t: (t.time_ms, t.symbol, t.trade_id))

    def symbol_trades(self, symbol: str) -> list[Trade]:
        return list(self._trades.get(symbol, []))

    # -- commands -------------------------------------------------------------------------

    def place_order(
        self,
        account: str,
        *,
        symbol: str,
        side: Side,
        order_type: OrderType,
        client_order_id: str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        quote_order_qty: Decimal | None = None,
        now_ms: int | None = None,
    ) -> Placement:
        """Validate, lock funds, match what crosses now; raise EngineError if refused."""
        with exact_arithmetic():
            batch = _Batch(self._tick_clock(now_ms))
            market = self._market(symbol)
            self._check_parameters(order_type, quantity, price, time_in_force, quote_order_qty)
            exec_price = self._execution_price(market, side, order_type, price)
            quantity = self._order_quantity(market, quantity, quote_order_qty, exec_price)
            check_filters(market.filters, side, order_type, quantity, price, exec_price)
            state = self._accounts.setdefault(account, Account(fees=self._default_fees))
            if any(o.client_order_id == client_order_id for o in self.open_orders(account)):
                raise new_order_rejected(DUPLICATE_ORDER)
            crosses = exec_price is not None
            if order_type == OrderType.LIMIT_MAKER and crosses:
                raise new_order_rejected(WOULD_TAKE)
            lock_price = price if price is not None else exec_price
            if lock_price is None:  # pragma: no cover - a MARKET order always has an execution price
                raise mandatory("price")
            lock_funds(state, market.filters, side, quantity, lock_price)
            batch.touch(account, *self._assets(market.filters))
            order = Order(
                order_id=self._next_order_id,
                account=account,
                symbol=symbol,
                client_order_id=client_order_id,
                side=side,
                order_type=order_type,
                time_in_force=time_in_force,
                quantity=quantity,
                price=price,
                status=VenueOrderStatus.NEW,
                executed_quantity=ZERO,
                cumulative_quote=ZERO,
                created_ms=batch.now_ms,
                updated_ms=batch.now_ms,
                quote_order_qty=quote_order_qty or ZERO,
                lock_price=lock_price,
            )
            self._next_order_id += 1
            self._store(order)
            batch.events.append(
                ExecutionReport(account, batch.now_ms, ExecutionType.NEW, order, order.client_order_id)
            )
            order = self._match_on_placement(market, order, exec_price, batch)
            self._emit_positions(batch)
            return Placement(order=order, trades=tuple(batch.trades), events=tuple(batch.events))

    def cancel_order(
        self,
        account: str,
        *,
        symbol: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        cancel_client_order_id: str | None = None,
        now_ms: int | None = None,
    ) -> Cancellation:
        """Cancel an open order; -2011 "Unknown order sent." if there is no such open order."""
        with exact_arithmetic():
            self._market(symbol)
            if order_id is None and client_order_id is None:
                raise mandatory("orderId")
            batch = _Batch(self._tick_clock(now_ms))
            order = next(iter(self._candidates(account, symbol, order_id, client_order_id, self._open)), None)
            if order is None:
                raise EngineError(-2011, UNKNOWN_ORDER)
            cancel_id = cancel_client_order_id or f"cancel-{order.order_id}"
            order = self._finish(order, VenueOrderStatus.CANCELED, batch)
            batch.events.append(
                ExecutionReport(
                    account,
                    batch.now_ms,
                    ExecutionType.CANCELED,
                    order,
                    client_order_id=cancel_id,
                    orig_client_order_id=order.client_order_id,
                )
            )
            self._emit_positions(batch)
            return Cancellation(order=order, events=tuple(batch.events))

    def on_price(self, symbol: str, price: Decimal, *, now_ms: int | None = None) -> list[Event]:
        """A new market price (one tick): fills the resting orders it reaches."""
        with exact_arithmetic():
            batch = _Batch(self._tick_clock(now_ms))
            self._tick(self._market(symbol), price, batch)
            self._emit_positions(batch)
            return batch.events

    def on_candle(
        self,
        symbol: str,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        *,
        now_ms: int | None = None,
    ) -> list[Event]:
        """Replay a candle as four ticks along `candle_path`; events in path order."""
        with exact_arithmetic():
            batch = _Batch(self._tick_clock(now_ms))
            market = self._market(symbol)
            for point in candle_path(open_, high, low, close):
                self._tick(market, point, batch)
            self._emit_positions(batch)
            return batch.events

    # -- validation -----------------------------------------------------------------------

    def _check_parameters(
        self,
        order_type: OrderType,
        quantity: Decimal | None,
        price: Decimal | None,
        time_in_force: TimeInForce | None,
        quote_order_qty: Decimal | None,
    ) -> None:
        """Binance's mandatory/forbidden parameters per order type, then their precision."""
        if order_type == OrderType.MARKET:
            _check_market_parameters(quantity, price, time_in_force, quote_order_qty)
        else:
            _check_limit_parameters(order_type, quantity, price, time_in_force, quote_order_qty)
        check_precision(quantity=quantity, price=price, quote_order_qty=quote_order_qty)

    def _order_quantity(
        self,
        market: _Market,
        quantity: Decimal | None,
        quote_order_qty: Decimal | None,
        exec_price: Decimal | None,
    ) -> Decimal:
        if quantity is not None:
            return quantity
        if quote_order_qty is None or exec_price is None:  # pragma: no cover - _check_parameters
            raise mandatory("quantity")
        if quote_order_qty <= 0:
            raise EngineError(-1013, "Invalid quoteOrderQty.")
        step = market.filters.step_size
        raw = quote_order_qty / exec_price
        snapped = (raw / step).to_integral_value(ROUND_DOWN) * step if step > 0 else raw
        if snapped <= 0:
            raise filter_failure("LOT_SIZE")
        return snapped.quantize(COMMISSION_QUANTUM, rounding=ROUND_DOWN).normalize()

    # -- matching -------------------------------------------------------------------------

    def _execution_price(
        self, market: _Market, side: Side, order_type: OrderType, limit: Decimal | None
    ) -> Decimal | None:
        """The price the order trades at right now, or None if it does not cross."""
        current = market.price
        if order_type == OrderType.MARKET:
            if current is None:
                raise new_order_rejected("Market is closed.")
            return slipped_price(
                current, side, tick=market.filters.tick_size, slippage_bps=self._slippage_bps
            )
        if current is None or limit is None:
            return None
        crosses = current <= limit if side == Side.BUY else current >= limit
        return current if crosses else None

    def _match_on_placement(
        self, market: _Market, order: Order, exec_price: Decimal | None, batch: _Batch
    ) -> Order:
        """Trade what crosses now as taker; then rest (GTC) or expire (MARKET, IOC, FOK)."""
        if exec_price is not None:
            fillable = self._fillable(market, order)
            all_or_none = order.time_in_force == TimeInForce.FOK
            if fillable > 0 and not (all_or_none and fillable < order.remaining):
                order = self._fill(market, order, fillable, exec_price, is_maker=False, batch=batch)
        rests = order.order_type != OrderType.MARKET and order.time_in_force in (None, TimeInForce.GTC)
        if order.is_open and not rests:
            order = self._finish(order, VenueOrderStatus.EXPIRED, batch)
            batch.events.append(
                ExecutionReport(
                    order.account, batch.now_ms, ExecutionType.EXPIRED, order, order.client_order_id
                )
            )
        return order

    def _tick(self, market: _Market, price: Decimal, batch: _Batch) -> None:
        market.price = price
        market.reset_liquidity()
        symbol = market.filters.symbol
        reached = [
            o
            for o in self._open.values()
            if o.symbol == symbol
            and o.price is not None
            and (price <= o.price if o.side == Side.BUY else price >= o.price)
        ]
        buys = sorted((o for o in reached if o.side == Side.BUY), key=lambda o: (-(o.price or 0), o.order_id))
        sells = sorted((o for o in reached if o.side == Side.SELL), key=lambda o: (o.price or 0, o.order_id))
        for order in [*buys, *sells]:
            quantity = self._fillable(market, order)
            if quantity > 0 and order.price is not None:
                self._fill(market, order, quantity, order.price, is_maker=True, batch=batch)

    def _fillable(self, market: _Market, order: Order) -> Decimal:
        available = market.available[order.side]
        if available is None:
            return order.remaining
        step = market.filters.step_size
        capped = min(order.remaining, available)
        return (capped / step).to_integral_value(ROUND_DOWN) * step if step > 0 else capped

    def _fill(
        self,
        market: _Market,
        order: Order,
        quantity: Decimal,
        price: Decimal,
        *,
        is_maker: bool,
        batch: _Batch,
    ) -> Order:
        filters = market.filters
        state = self._accounts[order.account]
        quote, commission, commission_asset = settle_fill(
            state, filters, order.side, quantity, price, lock_price=order.lock_price, is_maker=is_maker
        )
        if market.available[order.side] is not None:
            market.available[order.side] = (market.available[order.side] or ZERO) - quantity
        trade = Trade(
            symbol=filters.symbol,
            trade_id=market.next_trade_id,
            order_id=order.order_id,
            account=order.account,
            client_order_id=order.client_order_id,
            side=order.side,
            price=price,
            quantity=quantity,
            quote_quantity=quote,
            commission=commission,
            commission_asset=commission_asset,
            is_maker=is_maker,
            time_ms=batch.now_ms,
        )
        market.next_trade_id += 1
        self._trades[filters.symbol].append(trade)
        executed = order.executed_quantity + quantity
        status = VenueOrderStatus.FILLED if executed == order.quantity else VenueOrderStatus.PARTIALLY_FILLED
        order = replace(
            order,
            executed_quantity=executed,
            cumulative_quote=order.cumulative_quote + quote,
            status=status,
            updated_ms=batch.now_ms,
        )
        self._store(order)
        batch.trades.append(trade)
        batch.touch(order.account, filters.base_asset, filters.quote_asset)
        batch.events.append(
            ExecutionReport(
                order.account, batch.now_ms, ExecutionType.TRADE, order, order.client_order_id, trade=trade
            )
        )
        return order

    def _finish(self, order: Order, status: VenueOrderStatus, batch: _Batch) -> Order:
        """Close an open order (CANCELED/EXPIRED) and release what it still has locked."""
        filters = self._market(order.symbol).filters
        state = self._accounts[order.account]
        if order.side == Side.BUY:
            release = order.remaining * order.lock_price
            state.move(filters.quote_asset, locked=-release, free=release)
        else:
            state.move(filters.base_asset, locked=-order.remaining, free=order.remaining)
        batch.touch(order.account, *self._assets(filters))
        order = replace(order, status=status, updated_ms=batch.now_ms)
        self._store(order)
        return order

    # -- helpers --------------------------------------------------------------------------

    def _store(self, order: Order) -> None:
        self._orders[order.order_id] = order
        if order.is_open:
            self._open[order.order_id] = order
        else:
            self._open.pop(order.order_id, None)

    def _candidates(
        self,
        account: str,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        pool: Mapping[int, Order],
    ) -> list[Order]:
        """Orders of this account and symbol matching the id (newest first)."""
        if order_id is not None:
            order = pool.get(order_id)
            if order is None or order.account != account or order.symbol != symbol:
                return []
            if client_order_id is not None and order.client_order_id != client_order_id:
                return []
            return [order]
        return sorted(
            (
                o
                for o in pool.values()
                if o.account == account and o.symbol == symbol and o.client_order_id == client_order_id
            ),
            key=lambda o: -o.order_id,
        )

    def _emit_positions(self, batch: _Batch) -> None:
        for account, assets in batch.touched.items():
            state = self._accounts[account]
            state.updated_ms = batch.now_ms
            batch.events.append(
                AccountPosition(account, batch.now_ms, tuple(state.balance(a) for a in assets))
            )
        batch.touched.clear()

    def _tick_clock(self, now_ms: int | None) -> int:
        if now_ms is not None:
            self._now_ms = max(self._now_ms, now_ms)
        return self._now_ms

    def _market(self, symbol: str) -> _Market:
        try:
            return self._markets[symbol]
        except KeyError:
            raise invalid_symbol() from None

    def _account(self, account: str) -> Account:
        return self._accounts.get(account) or Account(fees=self._default_fees)

    @staticmethod
    def _assets(filters: SymbolFilters) -> tuple[str, str]:
        return (filters.base_asset, filters.quote_asset)


# -- the fill model's pieces, shared with the backtester's batched Swing path -------------------
# (apps/backtest/engine/swing_batch.py). Call them inside `exact_arithmetic()`.


def slipped_price(price: Decimal, side: Side, *, tick: Decimal, slippage_bps: Decimal) -> Decimal:
    """A MARKET order's execution price: `price` moved against the order by `slippage_bps`,
    rounded to the tick away from the order (buys up, sells down), never below one tick."""
    if slippage_bps == 0:
        return price
    factor = slippage_bps / _BPS
    moved = price * (1 + factor) if side == _BUY else price * (1 - factor)
    if tick <= 0:
        return moved
    rounding = ROUND_UP if side == _BUY else ROUND_DOWN
    snapped = (moved / tick).to_integral_value(rounding) * tick
    return max(snapped, tick)


def check_precision(
    *, quantity: Decimal | None, price: Decimal | None, quote_order_qty: Decimal | None
) -> None:
    """More than MAX_DECIMALS decimals in an order parameter is -1111."""
    for name, value in (("quantity", quantity), ("price", price), ("quoteOrderQty", quote_order_qty)):
        if value is not None and _decimals(value) > MAX_DECIMALS:
            raise too_precise(name)


def check_filters(
    filters: SymbolFilters,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    exec_price: Decimal | None,
) -> None:
    """The shared validator, with its verdicts mapped to Binance's codes and texts."""
    reference = exec_price if order_type == _MARKET else None
    try:
        conform_to_filters(filters, side=side, quantity=quantity, price=price, reference_price=reference)
    except ValidationFailed as exc:
        raise _binance_filter_error(exc) from exc


def check_notional(filters: SymbolFilters, quantity: Decimal, exec_price: Decimal) -> None:
    """`check_filters` for a MARKET order whose quantity is known to pass every check of
    `conform_to_filters` that does not read the price (storable, positive, lot size: the caller
    has proven it, e.g. the quantity passed `conform_to_filters` with these filters and another
    reference price): only the notional bound is left, checked by the shared validator's own
    notional check on the same product, with the same codes and texts."""
    try:
        _check_notional(filters, quantity * exec_price)
    except ValidationFailed as exc:
        raise _binance_filter_error(exc) from exc


def lock_funds(
    state: Account, filters: SymbolFilters, side: Side, quantity: Decimal, lock_price: Decimal
) -> None:
    """Lock what an order may spend (quote at `lock_price` for a buy, the base for a sell);
    -2010 insufficient balance when the free balance does not cover it."""
    asset, amount = (
        (filters.quote_asset, quantity * lock_price) if side == _BUY else (filters.base_asset, quantity)
    )
    if state.free.get(asset, ZERO) < amount:
        raise new_order_rejected(INSUFFICIENT_BALANCE)
    state.move(asset, free=-amount, locked=amount)


def settle_fill(
    state: Account,
    filters: SymbolFilters,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    *,
    lock_price: Decimal,
    is_maker: bool,
) -> tuple[Decimal, Decimal, str]:
    """Move the balances of one fill of `quantity` at `price` (from the order's lock) and charge
    the commission in the asset received. Returns (quote quantity, commission, its asset)."""
    rate = state.fees.maker if is_maker else state.fees.taker
    quote = quantity * price
    if side == _BUY:
        commission = _commission(quantity * rate)
        reserved = quantity * lock_price
        state.move(filters.quote_asset, locked=-reserved, free=reserved - quote)
        state.move(filters.base_asset, free=quantity - commission)
        return quote, commission, filters.base_asset
    commission = _commission(quote * rate)
    state.move(filters.base_asset, locked=-quantity)
    state.move(filters.quote_asset, free=quote - commission)
    return quote, commission, filters.quote_asset


def _check_market_parameters(
    quantity: Decimal | None,
    price: Decimal | None,
    time_in_force: TimeInForce | None,
    quote_order_qty: Decimal | None,
) -> None:
    if price is not None:
        raise not_required("price")
    if time_in_force is not None:
        raise not_required("timeInForce")
    if quantity is None and quote_order_qty is None:
        raise mandatory("quantity")
    if quantity is not None and quote_order_qty is not None:
        raise not_required("quoteOrderQty")


def _check_limit_parameters(
    order_type: OrderType,
    quantity: Decimal | None,
    price: Decimal | None,
    time_in_force: TimeInForce | None,
    quote_order_qty: Decimal | None,
) -> None:
    if quote_order_qty is not None:
        raise not_required("quoteOrderQty")
    if quantity is None:
        raise mandatory("quantity")
    if price is None:
        raise mandatory("price")
    if order_type == OrderType.LIMIT and time_in_force is None:
        raise mandatory("timeInForce")
    if order_type == OrderType.LIMIT_MAKER and time_in_force is not None:
        raise not_required("timeInForce")


def _commission(amount: Decimal) -> Decimal:
    return amount.quantize(COMMISSION_QUANTUM, ROUND_HALF_UP)  # by position: cheaper


_FILTER_NAMES = {
    ErrorCode.FILTER_PRICE: "PRICE_FILTER",
    ErrorCode.FILTER_LOT_SIZE: "LOT_SIZE",
    ErrorCode.FILTER_MIN_NOTIONAL: "NOTIONAL",
    ErrorCode.FILTER_MAX_NOTIONAL: "NOTIONAL",
}


def _binance_filter_error(exc: ValidationFailed) -> EngineError:
    if exc.code in _FILTER_NAMES:
        return filter_failure(_FILTER_NAMES[exc.code])
    if exc.code == ErrorCode.INVALID_DECIMAL:
        return too_precise(exc.field or "quantity")
    return EngineError(-1013, f"Invalid {exc.field or 'quantity'}.")
