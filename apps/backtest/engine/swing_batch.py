"""The batched Swing path: a Swing run whose rules read no position term, without the
per-event machinery of the general path, and with byte-identical results.

Why: on such a run every decision depends only on the precomputed rule signals, the closes
and the position, and every order is a MARKET order that fills (or is refused) at once. The
general path (`simulator.Simulation` driving `SwingRuntime` through `SimulatedBroker` and the
`MatchingEngine`) spends ~260 µs per round trip on events, order copies, dispatch and
Decimal contexts that such a run never needs. This path visits exactly the same candles
(the same scanner, the same watch), makes the same decisions with the runtime's own
functions and fills with the matching engine's own fill model:

- decisions: `swing.entry_quantity` (sizing), `swing.exit_reason` (stop loss, take profit,
  rule), `base.conform` and `base.sellable_quantity` (quantization, dust), in the runtime's
  Decimal context, in the order `SwingRuntime._step`, `on_fill`, `_closed` and `_advance`
  apply them;
- fills: `matching.check_precision`, `slipped_price`, `check_filters`, `lock_funds` and
  `settle_fill`, in `MatchingEngine.place_order`'s order, at its precision; refusals carry
  the engine's codes and texts.

It is chosen for exactly the runs whose signals are vectorized (`SwingSignals.applicable`:
no rule reads a position term) and the general path stays the reference:
`simulate(..., reference=True)` runs it, and apps/backtest/tests/test_swing_batch.py
compares the two on random candles, rules, fees, slippage, filters and balances (orders,
fills, refusals, tags, equity, metrics, digest).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal, getcontext, setcontext

import numpy as np
import numpy.typing as npt

from apps.candles.domain import CandleArrays
from apps.core.decimals import DECIMAL_PLACES
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.exchange.matching import (
    MAX_DECIMALS,
    Account,
    EngineError,
    FeeSchedule,
    Order,
    Trade,
    VenueOrderStatus,
    check_filters,
    check_notional,
    check_precision,
    exact_context,
    lock_funds,
    settle_fill,
    slipped_price,
)
from apps.strategy.configs import SwingConfig
from apps.strategy.runtime.base import DECIMAL_CONTEXT, conform, sellable_quantity
from apps.strategy.runtime.swing import ENTERING, EXITING, FLAT, LONG, entry_quantity, exit_reason
from apps.strategy.runtime.types import PlaceIntent

from .broker import ACCOUNT, MAX_CASCADE, Rejection, RuntimeLoop
from .scan import EVERY_CANDLE, CandleScanner, Reach
from .signals import SwingSignals
from .simulator import BalanceHistory, Progress

ZERO = Decimal(0)
_ENTRY, _EXIT = "entry", "exit"
#: Enum members bound once (reading one off its class costs ~0.08 µs, several times per fill).
_BUY, _SELL, _MARKET, _FILLED = Side.BUY, Side.SELL, OrderType.MARKET, VenueOrderStatus.FILLED


@dataclass(slots=True)
class Ledger:
    """What a run leaves at the venue: orders (by id), refused intents, fills, intent tags."""

    orders: list[Order] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class _Venue:
    """One account on one symbol: MARKET orders filled at once by the matching engine's fill model."""

    def __init__(
        self, filters: SymbolFilters, fees: FeeSchedule, slippage_bps: Decimal, initial: Decimal
    ) -> None:
        self.filters = filters
        self.slippage_bps = slippage_bps
        # Every quantity placed here is a multiple of the step (`conform` made it so). When the
        # step's exponent is at least -MAX_DECIMALS, the step and so every quantity is a
        # multiple of 10^-MAX_DECIMALS, and `check_precision` cannot refuse it (a quantity has
        # at most 38 digits: normalizing it at the engine's precision cannot round).
        step_exponent = filters.step_size.as_tuple().exponent
        self.check_quantity_precision = not (
            isinstance(step_exponent, int) and step_exponent >= -MAX_DECIMALS and filters.step_size > 0
        )
        #: Set by `SwingBatch` when every quantity placed here is known to pass the filters'
        #: price-free checks (`_Trader.lot_checked`): `check_notional` then stands for
        #: `check_filters`.
        self.lot_checked = False
        self.account = Account(fees=fees)
        self.account.move(filters.quote_asset, free=initial)  # MatchingEngine.open_account
        self.ledger = Ledger()
        self.next_order_id = 1
        self.next_trade_id = 1
        self.clock_ms = 0
        self.context = exact_context()

    def market(self, intent: PlaceIntent, price: Decimal, now_ms: int) -> Trade | None:
        """`MatchingEngine.place_order` for a MARKET intent at the current `price`: the fill,
        or None when refused (recorded with the engine's code and text)."""
        filters, side, quantity = self.filters, intent.side, intent.quantity
        saved = getcontext()
        setcontext(self.context)  # `exact_arithmetic()`'s context, built once (`exact_context`)
        try:
            self.clock_ms = max(self.clock_ms, now_ms)
            now = self.clock_ms
            try:
                if self.check_quantity_precision:
                    check_precision(quantity=quantity, price=None, quote_order_qty=None)
                exec_price = slipped_price(
                    price, side, tick=filters.tick_size, slippage_bps=self.slippage_bps
                )
                if self.lot_checked:
                    check_notional(filters, quantity, exec_price)
                else:
                    check_filters(filters, side, _MARKET, quantity, None, exec_price)
                lock_funds(self.account, filters, side, quantity, exec_price)
            except EngineError as exc:
                self.ledger.rejections.append(Rejection(intent, now_ms, f"{exc.code}: {exc.message}"))
                return None
            fillable = quantity - ZERO  # unlimited liquidity: the whole order, as `_fillable`
            quote, commission, asset = settle_fill(
                self.account, filters, side, fillable, exec_price, lock_price=exec_price, is_maker=False
            )
            order_id, symbol, client_order_id = self.next_order_id, filters.symbol, intent.client_order_id
            # Positional (a quarter cheaper than keywords, per fill): the fields in declaration
            # order, names in the comments; the hypothesis test compares every field.
            trade = Trade(
                symbol,  # symbol
                self.next_trade_id,  # trade_id
                order_id,  # order_id
                ACCOUNT,  # account
                client_order_id,  # client_order_id
                side,  # side
                exec_price,  # price
                fillable,  # quantity
                quote,  # quote_quantity
                commission,  # commission
                asset,  # commission_asset
                False,  # is_maker
                now,  # time_ms
            )
            executed = ZERO + fillable
            order = Order(
                order_id,  # order_id
                ACCOUNT,  # account
                symbol,  # symbol
                client_order_id,  # client_order_id
                side,  # side
                _MARKET,  # order_type
                None,  # time_in_force
                quantity,  # quantity
                None,  # price
                _FILLED,  # status: executed == quantity, one complete fill
                executed,  # executed_quantity
                ZERO + quote,  # cumulative_quote
                now,  # created_ms
                now,  # updated_ms
                ZERO,  # quote_order_qty
                exec_price,  # lock_price
            )
        finally:
            setcontext(saved)
        self.next_order_id += 1
        self.next_trade_id += 1
        self.ledger.orders.append(order)
        self.ledger.trades.append(trade)
        return trade

    def totals(self) -> tuple[Decimal, Decimal]:
        """(base, quote) held, free plus locked (`SimulatedBroker.totals`): for each asset,
        ZERO itself when the account never held it, else free + locked (missing ones ZERO)."""
        free, locked = self.account.free, self.account.locked
        base, quote = self.filters.base_asset, self.filters.quote_asset
        return (
            free.get(base, ZERO) + locked.get(base, ZERO) if base in free or base in locked else ZERO,
            free.get(quote, ZERO) + locked.get(quote, ZERO) if quote in free or quote in locked else ZERO,
        )


@dataclass(slots=True)
class _InFlight:
    client_order_id: str
    role: str
    quantity: Decimal
    filled: Decimal = ZERO


class _Trader:
    """`SwingRuntime`'s state and decisions for signal-driven rules (see the module docstring).
    `phase` and `entry_price` are read by `SwingSignals.watch`, as on the runtime."""

    def __init__(self, config: SwingConfig, filters: SymbolFilters, strategy_id: str) -> None:
        self.config = config
        self.filters = filters
        # `conform` of a quantity `conform` (or the entry sizing) already snapped, with the same
        # side and reference, returns the same value at the step's exponent (proof in
        # `_conformed`); only when the step's exponent is finer than the storage precision may
        # the representation differ, and then `conform` runs again.
        step_exponent = filters.step_size.as_tuple().exponent
        self.step_quantum: Decimal | None = (
            Decimal((0, (1,), step_exponent))
            if isinstance(step_exponent, int) and step_exponent >= -DECIMAL_PLACES and filters.step_size > 0
            else None
        )
        #: Every quantity `_place` gives the venue then passes `conform_to_filters`' price-free
        #: checks with these filters (proof in `_conformed`), so the venue need only check the
        #: notional at its execution price.
        self.lot_checked = self.step_quantum is not None
        self.prefix = f"s{strategy_id}-"
        self.seq = 0
        self.phase = FLAT
        self.position = ZERO
        self.trade_qty = ZERO
        self.trade_quote = ZERO
        self.entry_price: Decimal | None = None
        self.exit_reason = ""
        self.exit_ref: Decimal | None = None
        self.in_flight: _InFlight | None = None
        self._out: list[PlaceIntent] = []
        #: DECIMAL_CONTEXT, copied once: the runtime's methods run in a copy of it each.
        self.context = DECIMAL_CONTEXT.copy()

    def on_close(self, close: Decimal, entry: bool, exit_: bool) -> list[PlaceIntent]:
        """`SwingRuntime.on_candle_with_signals` (`_step`)."""
        if self.phase == FLAT and not entry:
            return []  # `_step` does nothing and `_advance` only acts while exiting: no intent
        saved = getcontext()
        setcontext(self.context)  # `localcontext(DECIMAL_CONTEXT)` without a copy per call
        try:
            if self.phase == LONG:
                assert self.entry_price is not None  # noqa: S101 - long means an entry filled
                reason = exit_reason(self.config, self.entry_price, close, lambda: exit_)
                if reason:
                    self.phase = EXITING
                    self.exit_reason = reason
                    self.exit_ref = close
            elif self.phase == FLAT and entry:
                quantity = entry_quantity(self.config, close, self.filters)
                self.trade_qty = ZERO
                self.trade_quote = ZERO
                self._place(_ENTRY, _BUY, quantity, "swing:entry", close)
                self.phase = ENTERING
            self._advance()
        finally:
            setcontext(saved)
        return self._flush()

    def on_fill(self, trade: Trade) -> list[PlaceIntent]:
        """`RuntimeBase.on_fill` with `SwingRuntime._filled`."""
        saved = getcontext()
        setcontext(self.context)  # `localcontext(DECIMAL_CONTEXT)` without a copy per call
        try:
            order = self.in_flight
            assert order is not None  # noqa: S101 - only our one in-flight order fills
            order.filled += trade.quantity
            base_fee = trade.commission if trade.commission_asset == self.filters.base_asset else ZERO
            if trade.side == _BUY:
                self.position += trade.quantity - base_fee
                self.trade_qty += trade.quantity
                self.trade_quote += trade.price * trade.quantity
            else:
                self.position -= trade.quantity + base_fee
            if order.filled >= order.quantity:
                self._closed(order)
            self._advance()
        finally:
            setcontext(saved)
        return self._flush()

    def on_rejected(self) -> list[PlaceIntent]:
        """`RuntimeBase.on_order_update(REJECTED)`."""
        saved = getcontext()
        setcontext(self.context)  # `localcontext(DECIMAL_CONTEXT)` without a copy per call
        try:
            order = self.in_flight
            assert order is not None  # noqa: S101
            self._closed(order)
            self._advance()
        finally:
            setcontext(saved)
        return self._flush()

    def _closed(self, order: _InFlight) -> None:
        self.in_flight = None
        if order.role == _ENTRY:
            if self.trade_qty > 0:
                self.phase = LONG
                self.entry_price = self.trade_quote / self.trade_qty
            else:
                self.phase = FLAT
        elif order.role == _EXIT and order.filled == 0:
            self.phase = LONG

    def _advance(self) -> None:
        if self.phase != EXITING or self.in_flight is not None:
            return
        sellable = sellable_quantity(self.filters, self.position, self.exit_ref)
        if sellable is None:
            self.phase = FLAT  # `_close_trade`
            self.entry_price = None
            self.trade_qty = ZERO
            self.trade_quote = ZERO
            return
        self._place(_EXIT, _SELL, sellable, f"swing:exit:{self.exit_reason}", self.exit_ref)

    def _place(self, role: str, side: Side, quantity: Decimal, tag: str, reference: Decimal | None) -> None:
        """`RuntimeBase._place` for a MARKET order of a quantity already conformed with this
        side and reference (the entry sizing, `sellable_quantity`)."""
        quantity = self._conformed(side, quantity, reference)
        self.seq += 1
        client_order_id = f"{self.prefix}{self.seq}"
        self.in_flight = _InFlight(client_order_id, role, quantity)
        self._out.append(PlaceIntent(client_order_id, side, _MARKET, quantity, None, tag))

    def _conformed(self, side: Side, quantity: Decimal, reference: Decimal | None) -> Decimal:
        """`conform(filters, side, quantity, None, reference).quantity` for a `quantity` that is
        already a multiple of the step which passed every filter with this side and reference.

        Why it is `quantity` at the step's exponent e (when e >= -18): `conform` cuts to 1e-18
        (exact: the step, hence the quantity, is a multiple of 1e-18) and snaps: the quotient
        by the step is an exact integer whose ideal exponent -18 - e is <= 0, so
        `to_integral_value` gives it exponent 0 and the product has exponent e; the checks see
        the same value and reference as before, so they pass again. Quantizing to 10^e gives
        that same coefficient and exponent. apps/backtest/tests/test_swing_batch.py checks it
        against `conform` on random quantities, filters and references.

        The result passes `conform_to_filters`' price-free checks with these filters (what the
        venue then skips, `lot_checked`): `quantity` passed the lot-size checks (value checks:
        a multiple of the step, within min and max) with them, in `plans.conform`'s check of
        the entry sizing or inside `conform` (sellable); it is positive; and it is storable:
        at most -e <= 18 decimals at exponent e, and its integer digits are those of a value
        `ensure_storable` accepted (the sizing's quantity, or the position `conform` cut to
        1e-18, which the snapped quantity does not exceed). The hypothesis test checks
        `check_notional` against `check_filters` on such quantities."""
        quantum = self.step_quantum
        if quantum is None:
            return conform(self.filters, side, quantity, None, reference).quantity
        return quantity.quantize(quantum)

    def _flush(self) -> list[PlaceIntent]:
        out, self._out = self._out, []
        return out


class SwingBatch:
    """The candle loop of `simulator.Simulation`, for the batched path."""

    def __init__(
        self,
        *,
        config: SwingConfig,
        filters: SymbolFilters,
        fees: FeeSchedule,
        slippage_bps: Decimal,
        initial_quote: Decimal,
        strategy_id: str,
        candles: CandleArrays,
        signals: SwingSignals,
        start: int = 0,
    ) -> None:
        self.venue = _Venue(filters, fees, slippage_bps, initial_quote)
        self.trader = _Trader(config, filters, strategy_id)
        self.venue.lot_checked = self.trader.lot_checked  # only the trader places orders
        self.candles = candles
        self.signals = signals
        self.start = start
        self.scanner = CandleScanner(candles.high, candles.low, candles.close)
        self.history = BalanceHistory(initial_quote=initial_quote, candles=len(candles))
        self.fill_count = 0
        # Candles flagged by each rule, for the scanner's most common question (below).
        self._flagged_entry, self._flagged_exit = _flagged(signals.entry), _flagged(signals.exit)
        self._flagged = {id(signals.entry): self._flagged_entry, id(signals.exit): self._flagged_exit}
        self.signal_only = config.stop_loss_pct is None and config.take_profit_pct is None

    @property
    def ledger(self) -> Ledger:
        return self.venue.ledger

    def run(self, progress: Progress | None = None) -> BalanceHistory:
        """`simulator.Simulation.run` and `_process` in one loop: at each visited candle, the
        pending intents at its open, then the trader at its close, and the balances recorded
        when a fill changed them (or first). One function: a run visits tens of thousands of
        candles and every call and attribute look-up counts."""
        n = len(self.candles)
        pending: list[PlaceIntent] = []
        i = self.start
        last_report = i - 1
        report_every = max(n // 200, 1)
        # `item` reads one Python float (bool, int) without a numpy scalar in between.
        open_, close, open_time = self.candles.open.item, self.candles.close.item, self.candles.open_time.item
        entry, exit_ = self.signals.entry.item, self.signals.exit.item
        trader, venue, history = self.trader, self.venue, self.history
        change_index, change_base, change_quote = (
            history.change_index,
            history.change_base,
            history.change_quote,
        )
        signal_only = self.signal_only
        steps = 0
        while i < n:
            fills_before = self.fill_count
            if pending:
                self._execute(pending, Decimal(repr(open_(i))), open_time(i))
            # The trader at the close, unless it provably does nothing there (no intent, no
            # state change; `_quiet`): flat without an entry signal, or long without an exit
            # signal and without a stop to check.
            phase = trader.phase
            if phase == FLAT:
                pending = trader.on_close(Decimal(repr(close(i))), True, exit_(i)) if entry(i) else []
            elif phase == LONG and signal_only and not exit_(i):
                pending = []
            else:
                pending = trader.on_close(Decimal(repr(close(i))), entry(i), exit_(i))
            if self.fill_count != fills_before or not change_index:
                base, quote = venue.totals()
                change_index.append(i)
                change_base.append(base)
                change_quote.append(quote)
            steps += 1
            if progress is not None and i - last_report >= report_every:
                progress(i + 1 - self.start, n - self.start)
                last_report = i
            i = i + 1 if pending else self._next_needed(i + 1)
        history.steps += steps
        if progress is not None:
            progress(n - self.start, n - self.start)
        return history

    def _execute(self, intents: list[PlaceIntent], price: Decimal, now_ms: int) -> None:
        """`SimulatedBroker.execute`: the intents, then whatever the trader answers, in order."""
        queue = intents  # ours (the trader's flushed list): read in order, answers appended
        venue, trader, tags = self.venue, self.trader, self.venue.ledger.tags
        done = 0
        while done < len(queue):
            if done >= MAX_CASCADE:
                raise RuntimeLoop(f"more than {MAX_CASCADE} intents from one event")
            intent = queue[done]
            done += 1
            tags[intent.client_order_id] = intent.tag
            trade = venue.market(intent, price, now_ms)
            if trade is None:
                queue.extend(trader.on_rejected())
            else:
                self.fill_count += 1
                queue.extend(trader.on_fill(trade))

    def _next_needed(self, start: int) -> int:
        """`CandleScanner.next_needed` for what the trader watches. When that is one rule's
        signal alone (no stop loss or take profit to check), the answer — the first flagged
        candle from `start` on, else n — is read from the flagged indices directly."""
        trader = self.trader
        if self.signal_only:  # no stop loss, no take profit: `watch` would give one rule's signal
            if trader.phase == FLAT:
                flagged = self._flagged_entry
            elif trader.phase == LONG and trader.entry_price is not None:
                flagged = self._flagged_exit
            else:
                return self.scanner.next_needed(start, EVERY_CANDLE)
            return self._first_flagged(flagged, start)
        watch = self.signals.watch(trader)
        if watch is None:
            return self.scanner.next_needed(start, EVERY_CANDLE)
        if watch.low is None and watch.high is None and watch.signal is not None:
            return self._first_flagged(self._flagged[id(watch.signal)], start)
        return self.scanner.next_needed(
            start, Reach(close_at_or_below=watch.low, close_at_or_above=watch.high, signal=watch.signal)
        )

    def _first_flagged(self, flagged: list[int], start: int) -> int:
        """The first flagged candle from `start` on, else n (no candle needs the trader)."""
        k = bisect_left(flagged, start)
        return flagged[k] if k < len(flagged) else self.scanner.n


def _flagged(signal: npt.NDArray[np.bool_]) -> list[int]:
    indices: list[int] = np.flatnonzero(signal).tolist()
    return indices
