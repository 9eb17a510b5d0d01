"""Swing: DSL entry and exit rules on closed candles, MARKET orders, optional stop loss and
take profit on closes.

The rules read a window of recent candles held in memory (not in the state: the live engine
passes recent candles as `history` when it rebuilds the runtime, and `last_open_ms` in the
state says which candle was processed last). docs/RUNTIME.md has the exact order logic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from apps.candles.domain import CandleArrays
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.core.errors import ErrorCode, ValidationFailed
from apps.strategy.configs import SwingConfig
from apps.strategy.dsl import CompiledRule, PositionState, Series, compile_rule
from apps.strategy.plans import swing_entry_quantity

from .base import ZERO, OrderRecord, RuntimeBase, dec, deterministic, opt_dec, opt_str, pct
from .types import CandleBar, FillReport, Intent, QuietBand

FLAT, ENTERING, LONG, EXITING = "flat", "entering", "long", "exiting"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = ("open", "high", "low", "close", "volume")

#: Candles a Swing runtime is given to restore its rule window.
SwingHistory = Sequence[CandleBar] | CandleArrays


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def entry_quantity(config: SwingConfig, close: Decimal, filters: SymbolFilters) -> Decimal:
    """The entry's MARKET buy quantity, sized at the signal candle's close (before `_place`
    quantizes it); raises ValidationFailed when the filters refuse it. Shared with the
    backtester's batched Swing path (apps/backtest/engine/swing_batch.py)."""
    quantity, problem = swing_entry_quantity(config, reference_price=close, filters=filters)
    if problem is not None:
        codes = {str(c) for c in ErrorCode}
        code = ErrorCode(problem.code) if problem.code in codes else ErrorCode.INVALID
        raise ValidationFailed(f"swing entry order: {problem.message}", code=code, field="sizing_value")
    return quantity


def exit_reason(config: SwingConfig, entry_price: Decimal, close: Decimal, rule: Callable[[], bool]) -> str:
    """Why a long position exits at a candle closing at `close`: the stop loss, then the take
    profit, then the exit rule (`rule`, evaluated only if neither stop triggers); "" to stay.
    Shared with the backtester's batched Swing path."""
    if config.stop_loss_pct is not None and close <= pct(entry_price, -config.stop_loss_pct):
        return "stop_loss"
    if config.take_profit_pct is not None and close >= pct(entry_price, config.take_profit_pct):
        return "take_profit"
    return "rule" if rule() else ""


class SwingRuntime(RuntimeBase):
    kind = "SWING"

    @deterministic
    def __init__(
        self,
        *,
        strategy_id: str,
        config: SwingConfig,
        filters: SymbolFilters,
        state: dict[str, Any] | None = None,
        history: SwingHistory = (),
    ) -> None:
        super().__init__(strategy_id=strategy_id, filters=filters)
        self.config = config
        self.entry_rule: CompiledRule = compile_rule(config.entry)
        self.exit_rule: CompiledRule = compile_rule(config.exit)
        self.window_size = max(self.entry_rule.recommended_history, self.exit_rule.recommended_history, 1)
        self._window = {name: deque[float](maxlen=self.window_size) for name in _FIELDS}
        self.phase = FLAT
        self.position = ZERO
        self.trade_qty = ZERO
        self.trade_quote = ZERO
        self.entry_price: Decimal | None = None
        self.bars_in_trade = 0
        self.exit_reason = ""
        self.exit_ref: Decimal | None = None
        self.trades_closed = 0
        self.last_open_ms: int | None = None
        if state is not None:
            self._restore(state)
        self._load_history(history)

    # -- interface ----------------------------------------------------------------------

    @deterministic
    def on_candle(self, bar: CandleBar) -> list[Intent]:
        """Push the candle into the rule window, then decide with the rules evaluated on it."""
        for name in _FIELDS:
            self._window[name].append(float(getattr(bar, name)))
        self._step(bar, self._evaluate_entry, self._evaluate_exit)
        return self._flush()

    @deterministic
    def on_candle_with_signals(self, bar: CandleBar, *, entry: bool, exit_: bool) -> list[Intent]:
        """`on_candle` with the rule values given (a backtester evaluates the rules vectorized).

        The window is not updated, so do not mix this with `on_candle` on one runtime. While
        flat, a candle with entry=False only advances `last_open_ms`; while long, every
        candle must be given (bars_in_trade, stop loss and take profit count on them).
        """
        self._step(bar, lambda _bar: entry, lambda _bar: exit_)
        return self._flush()

    def quiet_band(self) -> QuietBand | None:
        return None  # the rules may fire on any candle

    @property
    def window_length(self) -> int:
        return len(self._window["close"])

    @deterministic
    def snapshot(self) -> dict[str, Any]:
        state = self._base_state()
        state.update(
            phase=self.phase,
            position=str(self.position),
            trade_qty=str(self.trade_qty),
            trade_quote=str(self.trade_quote),
            entry_price=opt_str(self.entry_price),
            bars_in_trade=self.bars_in_trade,
            exit_reason=self.exit_reason,
            exit_ref=opt_str(self.exit_ref),
            trades_closed=self.trades_closed,
            last_open_ms=self.last_open_ms,
        )
        return state

    # -- decisions ----------------------------------------------------------------------

    def _step(
        self,
        bar: CandleBar,
        entry: Callable[[CandleBar], bool],
        exit_: Callable[[CandleBar], bool],
    ) -> None:
        self.last_open_ms = epoch_ms(bar.open_time)
        if self.phase == LONG:
            self.bars_in_trade += 1
            reason = self._exit_reason(bar, exit_)
            if reason:
                self.phase = EXITING
                self.exit_reason = reason
                self.exit_ref = bar.close
        elif self.phase == FLAT and entry(bar):
            self._enter(bar.close)
        self._advance()

    def _exit_reason(self, bar: CandleBar, exit_: Callable[[CandleBar], bool]) -> str:
        entry_price = self.entry_price
        assert entry_price is not None  # noqa: S101 - long means an entry filled
        return exit_reason(self.config, entry_price, bar.close, lambda: exit_(bar))

    def _enter(self, close: Decimal) -> None:
        """MARKET buy sized at the signal candle's close; a filter refusal raises."""
        quantity = entry_quantity(self.config, close, self.filters)
        self.trade_qty = ZERO
        self.trade_quote = ZERO
        self._place(
            role="entry",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=quantity,
            price=None,
            tag="swing:entry",
            reference_price=close,
        )
        self.phase = ENTERING

    def _evaluate_entry(self, _bar: CandleBar) -> bool:
        return self.entry_rule.evaluate_latest(self._series(self.entry_rule))

    def _evaluate_exit(self, bar: CandleBar) -> bool:
        assert self.entry_price is not None  # noqa: S101 - evaluated only while long
        entry = float(self.entry_price)
        position = PositionState(
            entry_price=entry,
            pnl_pct=(float(bar.close) / entry - 1.0) * 100.0,
            bars_in_trade=float(self.bars_in_trade),
        )
        return self.exit_rule.evaluate_latest(self._series(self.exit_rule), position)

    def _series(self, rule: CompiledRule) -> Series:
        count = min(self.window_length, rule.recommended_history)
        columns = [np.fromiter(self._window[name], dtype=np.float64)[-count:] for name in _FIELDS]
        return Series(*columns)

    # -- events -------------------------------------------------------------------------

    def _filled(self, order: OrderRecord, fill: FillReport) -> None:
        base_fee = fill.commission if fill.commission_asset == self.filters.base_asset else ZERO
        if order.side == Side.BUY:
            self.position += fill.quantity - base_fee
            self.trade_qty += fill.quantity
            self.trade_quote += fill.price * fill.quantity
        else:
            self.position -= fill.quantity + base_fee

    def _closed(self, order: OrderRecord) -> None:
        if order.role == "entry":
            if self.trade_qty > 0:
                self.phase = LONG
                self.entry_price = self.trade_quote / self.trade_qty
                self.bars_in_trade = -1  # 0 on the candle the entry filled (DSL convention)
            else:
                self.phase = FLAT
        elif order.role == "exit" and order.filled == 0:
            self.phase = LONG  # refused: the rules and stops decide again on the next candle

    def _advance(self) -> None:
        if self.phase != EXITING or self.orders:
            return
        if not self._sell_all_at_market(self.position, self.exit_ref, f"swing:exit:{self.exit_reason}"):
            self._close_trade()

    def _close_trade(self) -> None:
        self.trades_closed += 1
        self.phase = FLAT
        self.entry_price = None
        self.trade_qty = ZERO
        self.trade_quote = ZERO
        self.bars_in_trade = 0

    # -- state --------------------------------------------------------------------------

    def _load_history(self, history: SwingHistory) -> None:
        """Fill the window with the given candles up to the last processed one."""
        if isinstance(history, CandleArrays):
            keep = np.ones(len(history), dtype=bool)
            if self.last_open_ms is not None:
                keep = history.open_time <= self.last_open_ms
            for name in _FIELDS:
                self._window[name].extend(float(v) for v in getattr(history, name)[keep])
            return
        for bar in history:
            if self.last_open_ms is not None and epoch_ms(bar.open_time) > self.last_open_ms:
                break
            for name in _FIELDS:
                self._window[name].append(float(getattr(bar, name)))

    def _restore(self, state: dict[str, Any]) -> None:
        self._restore_base(state)
        self.phase = state["phase"]
        self.position = dec(state["position"])
        self.trade_qty = dec(state["trade_qty"])
        self.trade_quote = dec(state["trade_quote"])
        self.entry_price = opt_dec(state["entry_price"])
        self.bars_in_trade = int(state["bars_in_trade"])
        self.exit_reason = state["exit_reason"]
        self.exit_ref = opt_dec(state["exit_ref"])
        self.trades_closed = int(state["trades_closed"])
        self.last_open_ms = state["last_open_ms"]
