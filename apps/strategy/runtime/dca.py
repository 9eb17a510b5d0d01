"""DCA (3Commas-style) deals: a MARKET base buy, LIMIT safety buys below it, LIMIT take-profit
sells above the average entry, and stop loss / breakeven / trailing take profit on closes.

docs/RUNTIME.md has the exact order logic; the comments here say why, not what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.core.domain import OrderType, Side, SymbolFilters
from apps.strategy.configs import DcaConfig
from apps.strategy.plans import PlannedOrder, dca_orders

from .base import ZERO, OrderRecord, RuntimeBase, dec, deterministic, opt_dec, opt_str, pct
from .types import CandleBar, FillReport, Intent, QuietBand

IDLE, OPENING, ACTIVE, EXITING = "idle", "opening", "active", "exiting"


@dataclass(slots=True)
class Deal:
    number: int
    reference_price: Decimal
    base_price: Decimal | None = None
    bought_qty: Decimal = ZERO
    bought_quote: Decimal = ZERO
    sold_qty: Decimal = ZERO
    sold_quote: Decimal = ZERO
    position: Decimal = ZERO
    last_price: Decimal | None = None
    next_so: int = 1
    steps_done: list[bool] = field(default_factory=list)
    tp_filled: bool = False
    tp_dirty: bool = False
    blocked: bool = False
    trailing_active: bool = False
    trailing_peak: Decimal | None = None
    exit_reason: str = ""
    exit_ref: Decimal | None = None

    @property
    def average_entry(self) -> Decimal:
        """Volume-weighted average price of the deal's buys (fees are not in it)."""
        return self.bought_quote / self.bought_qty

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "reference_price": str(self.reference_price),
            "base_price": opt_str(self.base_price),
            "bought_qty": str(self.bought_qty),
            "bought_quote": str(self.bought_quote),
            "sold_qty": str(self.sold_qty),
            "sold_quote": str(self.sold_quote),
            "position": str(self.position),
            "last_price": opt_str(self.last_price),
            "next_so": self.next_so,
            "steps_done": list(self.steps_done),
            "tp_filled": self.tp_filled,
            "tp_dirty": self.tp_dirty,
            "blocked": self.blocked,
            "trailing_active": self.trailing_active,
            "trailing_peak": opt_str(self.trailing_peak),
            "exit_reason": self.exit_reason,
            "exit_ref": opt_str(self.exit_ref),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Deal:
        return cls(
            number=int(raw["number"]),
            reference_price=dec(raw["reference_price"]),
            base_price=opt_dec(raw["base_price"]),
            bought_qty=dec(raw["bought_qty"]),
            bought_quote=dec(raw["bought_quote"]),
            sold_qty=dec(raw["sold_qty"]),
            sold_quote=dec(raw["sold_quote"]),
            position=dec(raw["position"]),
            last_price=opt_dec(raw["last_price"]),
            next_so=int(raw["next_so"]),
            steps_done=[bool(x) for x in raw["steps_done"]],
            tp_filled=bool(raw["tp_filled"]),
            tp_dirty=bool(raw["tp_dirty"]),
            blocked=bool(raw["blocked"]),
            trailing_active=bool(raw["trailing_active"]),
            trailing_peak=opt_dec(raw["trailing_peak"]),
            exit_reason=raw["exit_reason"],
            exit_ref=opt_dec(raw["exit_ref"]),
        )


class DcaRuntime(RuntimeBase):
    kind = "DCA"

    @deterministic
    def __init__(
        self,
        *,
        strategy_id: str,
        config: DcaConfig,
        filters: SymbolFilters,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(strategy_id=strategy_id, filters=filters)
        self.config = config
        self.phase = IDLE
        self.cooldown_left = 0
        self.deal_seq = 0
        self.deals_closed = 0
        self.dust = ZERO
        self.deal: Deal | None = None
        self.last_deal: dict[str, Any] | None = None
        self._plan: tuple[Decimal, list[PlannedOrder]] | None = None
        if state is not None:
            self._restore(state)

    # -- interface ----------------------------------------------------------------------

    @deterministic
    def on_candle(self, bar: CandleBar) -> list[Intent]:
        if self.phase == IDLE:
            if self.cooldown_left > 0:
                self.cooldown_left -= 1
            else:
                self._start_deal(bar.close)
        elif self.phase == ACTIVE:
            self._check_exits(self._deal, bar.close)
        elif self.phase == EXITING and not self.orders:
            # A refused exit sell is retried once per candle, sized at this close.
            self._deal.blocked = False
            self._deal.exit_ref = bar.close
        self._advance()
        return self._flush()

    @deterministic
    def quiet_band(self) -> QuietBand | None:
        if self.phase == OPENING or (self.phase == EXITING and self.orders):
            return QuietBand(None, None)
        if self.phase != ACTIVE:
            return None
        deal = self._deal
        if deal.blocked or deal.trailing_active:
            return None
        high = None
        if self.config.trailing_take_profit_pct is not None:
            high = pct(deal.average_entry, self.config.take_profit[0].pct)
        return QuietBand(self._stop_price(deal), high)

    @deterministic
    def snapshot(self) -> dict[str, Any]:
        state = self._base_state()
        state.update(
            phase=self.phase,
            cooldown_left=self.cooldown_left,
            deal_seq=self.deal_seq,
            deals_closed=self.deals_closed,
            dust=str(self.dust),
            deal=None if self.deal is None else self.deal.to_json(),
            last_deal=self.last_deal,
        )
        return state

    # -- deal life cycle ----------------------------------------------------------------

    @property
    def _deal(self) -> Deal:
        assert self.deal is not None  # noqa: S101 - every phase but idle has a deal
        return self.deal

    def _start_deal(self, close: Decimal) -> None:
        """MARKET buy of base_order_quote at the candle's close (a filter refusal raises)."""
        self.deal_seq += 1
        self.deal = Deal(number=self.deal_seq, reference_price=close)
        self.deal.steps_done = [False] * len(self.config.take_profit)
        self._place(
            role="base",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=self.config.base_order_quote / close,
            price=None,
            tag=f"dca:d{self.deal_seq}:base",
            reference_price=close,
        )
        self.phase = OPENING

    def _check_exits(self, deal: Deal, close: Decimal) -> None:
        deal.blocked = False
        stop = self._stop_price(deal)
        if stop is not None and close <= stop:
            self._begin_exit(deal, "stop_loss", close)
            return
        trail = self.config.trailing_take_profit_pct
        if trail is None:
            return
        if deal.trailing_active and deal.trailing_peak is not None:
            deal.trailing_peak = max(deal.trailing_peak, close)
            if close <= pct(deal.trailing_peak, -trail):
                self._begin_exit(deal, "trailing_take_profit", close)
        elif close >= pct(deal.average_entry, self.config.take_profit[0].pct):
            deal.trailing_active = True
            deal.trailing_peak = close

    def _stop_price(self, deal: Deal) -> Decimal | None:
        if self.config.move_to_breakeven and deal.tp_filled:
            return deal.average_entry
        if self.config.stop_loss_pct is None:
            return None
        return pct(deal.average_entry, -self.config.stop_loss_pct)

    def _begin_exit(self, deal: Deal, reason: str, reference_price: Decimal | None) -> None:
        self.phase = EXITING
        deal.exit_reason = reason
        deal.exit_ref = reference_price
        deal.blocked = False

    def _close_deal(self, deal: Deal) -> None:
        self.last_deal = {
            "number": deal.number,
            "exit_reason": deal.exit_reason,
            "bought_qty": str(deal.bought_qty),
            "bought_quote": str(deal.bought_quote),
            "sold_qty": str(deal.sold_qty),
            "sold_quote": str(deal.sold_quote),
            "average_entry": str(deal.average_entry),
            "dust": str(deal.position),
        }
        self.dust += deal.position
        self.deals_closed += 1
        self.deal = None
        self.phase = IDLE
        self.cooldown_left = self.config.cooldown_bars

    # -- events -------------------------------------------------------------------------

    def _filled(self, order: OrderRecord, fill: FillReport) -> None:
        deal = self._deal
        base_fee = fill.commission if fill.commission_asset == self.filters.base_asset else ZERO
        deal.last_price = fill.price
        if order.side == Side.BUY:
            deal.bought_qty += fill.quantity
            deal.bought_quote += fill.price * fill.quantity
            deal.position += fill.quantity - base_fee
            if self.phase == ACTIVE:
                deal.tp_dirty = True
        else:
            deal.sold_qty += fill.quantity
            deal.sold_quote += fill.price * fill.quantity
            deal.position -= fill.quantity + base_fee

    def _closed(self, order: OrderRecord) -> None:
        deal = self._deal
        if order.role == "tp":
            if order.complete:
                deal.steps_done[order.level] = True
                deal.tp_filled = True
            elif not order.cancel_requested:
                # Removed by someone else, or refused: place it again, but not before the
                # next candle if it was refused (no tight reject loop).
                deal.tp_dirty = True
                deal.blocked = deal.blocked or order.filled == 0
        elif order.role == "exit" and order.filled == 0:
            deal.blocked = True

    def _advance(self) -> None:
        if self.phase == OPENING:
            self._settle_base(self._deal)
        if self.phase == ACTIVE:
            deal = self._deal
            self._top_up_safety(deal)
            if self.config.trailing_take_profit_pct is None:
                self._sync_take_profit(deal)
                if all(deal.steps_done):
                    self._begin_exit(deal, "take_profit", deal.last_price)
        if self.phase == EXITING:
            self._drive_exit(self._deal)

    def _settle_base(self, deal: Deal) -> None:
        if self._open("base"):
            return
        if deal.bought_qty == 0:
            # Nothing bought (refused or expired): no deal; the next candle tries again.
            self.deal = None
            self.phase = IDLE
            return
        deal.base_price = deal.average_entry
        deal.tp_dirty = True
        self.phase = ACTIVE

    def _top_up_safety(self, deal: Deal) -> None:
        """Keep up to max_active_safety_orders resting; the next one is placed as one fills."""
        config = self.config
        resting = len(self._open("so"))
        while resting < config.max_active_safety_orders and deal.next_so <= config.max_safety_orders:
            n = deal.next_so
            deal.next_so += 1
            planned = self._safety_plan(deal)[n]
            if not planned.accepted or planned.price is None:
                continue  # the filters refuse it (preflight said so): the next one may pass
            placed = self._try_place(
                role="so",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=planned.quantity,
                price=planned.price,
                tag=f"dca:d{deal.number}:so{n}",
                level=n,
            )
            resting += placed is not None

    def _safety_plan(self, deal: Deal) -> list[PlannedOrder]:
        """The deal's orders as `apps.strategy.plans.dca_orders` rounds them (index = SO n)."""
        assert deal.base_price is not None  # noqa: S101 - set when the deal became active
        if self._plan is None or self._plan[0] != deal.base_price:
            orders = dca_orders(self.config, entry_price=deal.base_price, filters=self.filters)
            self._plan = (deal.base_price, orders)
        return self._plan[1]

    def _sync_take_profit(self, deal: Deal) -> None:
        """After a buy fill: cancel the resting TP sells, and once they are all final, place
        them again for the new position and average entry (one LIMIT per remaining step)."""
        if not deal.tp_dirty or deal.blocked:
            return
        resting = self._open("tp")
        if resting:
            for order in resting:
                self._cancel(order, f"dca:d{deal.number}:tp{order.level + 1}")
            return
        deal.tp_dirty = False
        steps = self.config.take_profit
        remaining = [i for i, done in enumerate(deal.steps_done) if not done]
        fraction_left = sum((steps[i].close_fraction for i in remaining), ZERO)
        planned = ZERO
        for k, i in enumerate(remaining):
            last = k == len(remaining) - 1
            if last:
                quantity = deal.position - planned
            elif fraction_left > 0:
                quantity = deal.position * steps[i].close_fraction / fraction_left
            else:
                quantity = deal.position / len(remaining)
            placed = None
            if quantity > 0:
                placed = self._try_place(
                    role="tp",
                    side=Side.SELL,
                    order_type=OrderType.LIMIT,
                    quantity=quantity,
                    price=pct(deal.average_entry, steps[i].pct),
                    tag=f"dca:d{deal.number}:tp{i + 1}",
                    level=i,
                )
            if placed is None:
                deal.steps_done[i] = True  # too small for the filters: folded into later steps
            else:
                planned += placed.quantity

    def _drive_exit(self, deal: Deal) -> None:
        """Cancel everything resting; once all is final, MARKET-sell what the deal holds."""
        tag = f"dca:d{deal.number}:{deal.exit_reason}"
        self._cancel_all_but_exit(tag)
        if self.orders or deal.blocked:
            return
        if not self._sell_all_at_market(deal.position, deal.exit_ref, tag):
            self._close_deal(deal)

    # -- state --------------------------------------------------------------------------

    def _restore(self, state: dict[str, Any]) -> None:
        self._restore_base(state)
        self.phase = state["phase"]
        self.cooldown_left = int(state["cooldown_left"])
        self.deal_seq = int(state["deal_seq"])
        self.deals_closed = int(state["deals_closed"])
        self.dust = dec(state["dust"])
        self.deal = None if state["deal"] is None else Deal.from_json(state["deal"])
        self.last_deal = state["last_deal"]


__all__ = ["DcaRuntime", "Deal"]
