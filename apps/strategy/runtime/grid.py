"""Grid trading: LIMIT buys below the price and sells above it on fixed levels; every filled
buy is answered by a sell one level up, every filled sell by a buy one level down.

Levels are indexed absolutely (level j has price(j) for any integer j), and the grid is the
window [lo, lo + levels - 1]; trailing moves the window by one level. docs/RUNTIME.md has the
exact order logic.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from apps.core.decimals import snap_down
from apps.core.domain import OrderType, Side, SymbolFilters
from apps.core.errors import ErrorCode, ValidationFailed
from apps.strategy.configs import GridConfig, GridSpacing
from apps.strategy.plans import fit, grid_level_prices, grid_orders, grid_quantity

from .base import ZERO, OrderRecord, RuntimeBase, dec, deterministic, opt_dec, opt_str
from .types import CandleBar, FillReport, Intent, QuietBand

NEW, RUNNING, STOPPING, STOPPED = "new", "running", "stopping", "stopped"


class GridLevels:
    """Level prices: levels 0..levels-1 exactly as `apps.strategy.plans.grid_orders` rounds
    them (what preflight showed); levels outside the configured range (reached by trailing)
    continue the same progression and are snapped down to the tick the same way."""

    def __init__(self, config: GridConfig, filters: SymbolFilters) -> None:
        self.config = config
        self.tick = filters.tick_size
        self.count = config.levels
        planned = grid_orders(config, filters=filters)
        unusable = [
            o
            for o in planned
            if o.price is None
            or o.price <= 0
            or o.quantity <= 0
            or (o.problem is not None and o.problem.code == "level_collapsed")
        ]
        if unusable:
            first = unusable[0]
            raise ValidationFailed(
                f"grid level {first.index} is unusable: "
                f"{first.problem.message if first.problem else 'price rounds to zero'}",
                code=ErrorCode.INVALID_CONFIG,
                field="levels",
            )
        self._cache: dict[int, Decimal] = {o.index: o.price for o in planned if o.price is not None}
        self.quantity = snap_down(grid_quantity(config, grid_level_prices(config)), filters.step_size)

    def price(self, j: int) -> Decimal:
        cached = self._cache.get(j)
        if cached is None:
            cached = snap_down(fit(self._raw(j)), self.tick) if self._raw(j) > 0 else ZERO
            self._cache[j] = cached
        return cached

    def _raw(self, j: int) -> Decimal:
        lower, upper, steps = self.config.lower_price, self.config.upper_price, self.count - 1
        with localcontext() as ctx:
            ctx.prec = 34  # as apps.strategy.plans.grid_level_prices
            if self.config.spacing == GridSpacing.ARITHMETIC:
                return lower + (upper - lower) / steps * j
            return lower * ((upper / lower) ** (Decimal(1) / steps)) ** j

    def nearest(self, lo: int, price: Decimal) -> int:
        """The window level nearest `price` (the lower one on a tie)."""
        return min(range(lo, lo + self.count), key=lambda j: (abs(self.price(j) - price), j))


class GridRuntime(RuntimeBase):
    kind = "GRID"

    @deterministic
    def __init__(
        self,
        *,
        strategy_id: str,
        config: GridConfig,
        filters: SymbolFilters,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(strategy_id=strategy_id, filters=filters)
        self.config = config
        self.levels = GridLevels(config, filters)
        self.phase = NEW
        self.lo = 0
        self.quantity = self.levels.quantity
        self.inventory = ZERO
        self.bought_quote = ZERO
        self.sold_quote = ZERO
        self.pending_sells: list[int] = []
        self.deferred: list[dict[str, Any]] = []
        self.stop_reason = ""
        self.exit_ref: Decimal | None = None
        self.blocked = False
        if state is not None:
            self._restore(state)

    @property
    def top(self) -> int:
        return self.lo + self.levels.count - 1

    @property
    def finished(self) -> bool:
        return self.phase == STOPPED

    # -- interface ----------------------------------------------------------------------

    @deterministic
    def on_candle(self, bar: CandleBar) -> list[Intent]:
        close = bar.close
        if self.phase == NEW:
            self._start(close)
        elif self.phase == RUNNING:
            self._on_running_close(close)
        elif self.phase == STOPPING and not self.orders:
            self.blocked = False
            self.exit_ref = close
        self._advance()
        return self._flush()

    @deterministic
    def quiet_band(self) -> QuietBand | None:
        if self.phase == STOPPED or (self.phase == STOPPING and self.orders):
            return QuietBand(None, None)
        if self.phase != RUNNING:
            return None
        config = self.config
        lows = [config.stop_loss_price] if config.stop_loss_price is not None else []
        highs = [config.take_profit_price] if config.take_profit_price is not None else []
        if config.trailing_down:
            lows.append(self.levels.price(self.lo))
        if config.trailing_up:
            highs.append(self.levels.price(self.top))
        return QuietBand(max(lows) if lows else None, min(highs) if highs else None)

    @deterministic
    def snapshot(self) -> dict[str, Any]:
        state = self._base_state()
        state.update(
            phase=self.phase,
            lo=self.lo,
            quantity=str(self.quantity),
            inventory=str(self.inventory),
            bought_quote=str(self.bought_quote),
            sold_quote=str(self.sold_quote),
            pending_sells=list(self.pending_sells),
            deferred=[
                {**item, "qty": str(item["qty"]), "after": list(item["after"])} for item in self.deferred
            ],
            stop_reason=self.stop_reason,
            exit_ref=opt_str(self.exit_ref),
            blocked=self.blocked,
        )
        return state

    # -- start, trailing, stop ----------------------------------------------------------

    def _start(self, close: Decimal) -> None:
        """Initial MARKET buy of the base for the sells above, then the buys below; the level
        nearest the price stays empty."""
        skip = self.levels.nearest(self.lo, close)
        above = list(range(skip + 1, self.top + 1))
        if above:
            self._place(
                role="init",
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=self.quantity * len(above),
                price=None,
                tag="grid:init",
                reference_price=close,
            )
            self.pending_sells = above
        for j in range(self.lo, skip):
            self._place_level(Side.BUY, j, self.quantity)
        self.phase = RUNNING

    def _on_running_close(self, close: Decimal) -> None:
        config = self.config
        if config.stop_loss_price is not None and close <= config.stop_loss_price:
            self._begin_stop("stop_loss", close)
        elif config.take_profit_price is not None and close >= config.take_profit_price:
            self._begin_stop("take_profit", close)
        elif config.trailing_up and close > self.levels.price(self.top):
            self._shift(up=True)
        elif (
            config.trailing_down and close < self.levels.price(self.lo) and self.levels.price(self.lo - 1) > 0
        ):
            self._shift(up=False)

    def _shift(self, *, up: bool) -> None:
        """Move the window one level: drop the far level (cancel its orders) and, once those
        cancels are final, place the order that fills the level the price just left:
        up: a BUY at the old top; down: a SELL at the old bottom with the base the canceled
        top sells still held."""
        dropped = self.lo if up else self.top
        self.lo += 1 if up else -1
        target = self.top - 1 if up else self.lo + 1
        awaited = [o for o in self.orders.values() if o.level == dropped and o.role in ("buy", "sell")]
        for order in awaited:
            self._cancel(order, f"grid:shift:{dropped}")
        if any(o.level == target and o.role in ("buy", "sell") for o in self.orders.values()):
            return
        if up:
            self.deferred.append(
                {
                    "side": "BUY",
                    "level": target,
                    "qty": self.quantity,
                    "after": [o.client_order_id for o in awaited],
                }
            )
        elif any(o.side == Side.SELL for o in awaited):
            self.deferred.append(
                {"side": "SELL", "level": target, "qty": ZERO, "after": [o.client_order_id for o in awaited]}
            )

    def _begin_stop(self, reason: str, close: Decimal) -> None:
        self.phase = STOPPING
        self.stop_reason = reason
        self.exit_ref = close
        self.pending_sells = []
        self.deferred = []

    # -- events -------------------------------------------------------------------------

    def _filled(self, order: OrderRecord, fill: FillReport) -> None:
        base_fee = fill.commission if fill.commission_asset == self.filters.base_asset else ZERO
        if order.side == Side.BUY:
            self.inventory += fill.quantity - base_fee
            self.bought_quote += fill.price * fill.quantity
        else:
            self.inventory -= fill.quantity + base_fee
            self.sold_quote += fill.price * fill.quantity

    def _closed(self, order: OrderRecord) -> None:
        if order.role == "exit":
            self.blocked = self.blocked or order.filled == 0
            return
        for item in self.deferred:
            if order.client_order_id in item["after"] and order.side == Side.SELL:
                item["qty"] += order.remaining
        if order.role == "init" and (self.phase != RUNNING or order.filled <= 0):
            self.pending_sells = []
        if self.phase != RUNNING or order.filled <= 0:
            return
        if order.role == "init":
            self._place_initial_sells(order)
        elif order.role == "buy":
            self._place_level(Side.SELL, order.level + 1, order.net_base)
        elif order.role == "sell":
            self._place_level(Side.BUY, order.level - 1, self.quantity if order.complete else order.filled)

    def _place_initial_sells(self, order: OrderRecord) -> None:
        levels, self.pending_sells = self.pending_sells, []
        each = order.net_base / len(levels)
        for j in levels:
            self._place_level(Side.SELL, j, each)

    def _place_level(self, side: Side, level: int, quantity: Decimal) -> None:
        price = self.levels.price(level)
        if quantity <= 0 or price <= 0:
            return
        name = "buy" if side == Side.BUY else "sell"
        self._try_place(
            role=name,
            side=side,
            order_type=OrderType.LIMIT,
            quantity=quantity,
            price=price,
            tag=f"grid:{name}:{level}",
            level=level,
        )

    def _advance(self) -> None:
        if self.phase == RUNNING and self.deferred:
            ready = [i for i in self.deferred if not any(cid in self.orders for cid in i["after"])]
            self.deferred = [i for i in self.deferred if i not in ready]
            for item in ready:
                self._place_level(Side(item["side"]), item["level"], item["qty"])
        if self.phase == STOPPING:
            self._drive_stop()

    def _drive_stop(self) -> None:
        tag = f"grid:{self.stop_reason}"
        self._cancel_all_but_exit(tag)
        if self.orders or self.blocked:
            return
        if not self._sell_all_at_market(self.inventory, self.exit_ref, tag):
            self.phase = STOPPED

    # -- state --------------------------------------------------------------------------

    def _restore(self, state: dict[str, Any]) -> None:
        self._restore_base(state)
        self.phase = state["phase"]
        self.lo = int(state["lo"])
        self.quantity = dec(state["quantity"])
        self.inventory = dec(state["inventory"])
        self.bought_quote = dec(state["bought_quote"])
        self.sold_quote = dec(state["sold_quote"])
        self.pending_sells = [int(j) for j in state["pending_sells"]]
        self.deferred = [
            {"side": i["side"], "level": int(i["level"]), "qty": dec(i["qty"]), "after": list(i["after"])}
            for i in state["deferred"]
        ]
        self.stop_reason = state["stop_reason"]
        self.exit_ref = opt_dec(state["exit_ref"])
        self.blocked = bool(state["blocked"])
