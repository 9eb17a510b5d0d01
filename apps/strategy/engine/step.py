"""One step of one running strategy, in ONE transaction:

lock the strategy row (a worker that finds it locked skips: one strategy, one worker at a
time) → rebuild the runtime from its persisted state → give it the new fills and final
statuses of its own orders → give it the candles closed since the last step → send its
intents through `execution.services.submit_order` / `request_cancel` → save the new state.
Before its first intent the step locks all of the strategy's open orders in id order
(`lock_open_orders`), so that its cancels, in whatever order the runtime emits them, cannot
deadlock with a fill burst (`apply_fills` locks in id order too).

Orders are written in the same transaction as the state that produced them and are sent to
the exchange only after commit. A worker killed mid-step therefore leaves neither orders nor
state behind; the next step recomputes the same intents with the same deterministic client
order ids, and submit_order's idempotency makes a retried step harmless either way.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.candles import selectors as candle_selectors
from apps.candles.intervals import from_ms, to_ms
from apps.core.domain import OrderStatus, Side
from apps.core.errors import ApplicationError, ValidationFailed
from apps.exchange.selectors import get_symbol_filters
from apps.execution import services as execution_services
from apps.execution.models import Fill, Order
from apps.execution.services.orders import KillSwitchActive, RiskRejected
from apps.risk.services import kill_switch_state
from apps.strategy.configs import StrategyKind, parse_config
from apps.strategy.models import Strategy, StrategyEvent, StrategyStatus
from apps.strategy.runtime import build_runtime
from apps.strategy.runtime.types import (
    CancelIntent,
    CandleBar,
    FillReport,
    Intent,
    OrderUpdate,
    PlaceIntent,
    StrategyRuntime,
)
from apps.strategy.services import lifecycle

from .state import EngineState, TrackedOrder

logger = logging.getLogger(__name__)

FINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
MAX_CANDLES_PER_STEP = 500
MAX_INTENTS_PER_STEP = 2000


@dataclass
class StepResult:
    strategy_id: int
    ran: bool = False
    skipped: str = ""
    candles: int = 0
    fills: int = 0
    updates: int = 0
    placed: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    paused: str = ""
    error: str = ""


class _PauseForKillSwitch(Exception):
    """Raised inside the step to roll it back and pause the strategy."""


def run_strategy_step(*, strategy_id: int, now: datetime | None = None) -> StepResult:
    """Run one step if the strategy is RUNNING and no other worker holds it."""
    now = now or timezone.now()
    result = StepResult(strategy_id)
    try:
        with transaction.atomic():
            strategy = (
                Strategy.objects.select_for_update(skip_locked=True)
                .select_related("account")
                .filter(pk=strategy_id)
                .first()
            )
            if strategy is None:
                result.skipped = "locked or gone"
                return result
            if strategy.status != StrategyStatus.RUNNING:
                result.skipped = f"status {strategy.status}"
                return result
            switch = kill_switch_state()
            if switch.active:
                result.paused = f"kill switch active: {switch.reason}"
                raise _PauseForKillSwitch
            _Step(strategy, now, result).run()
            strategy.last_step_at = now
            strategy.last_error = "" if not result.refused else _refusals_text(result.refused)
            strategy.consecutive_failures = 0
            strategy.save(update_fields=["state", "last_step_at", "last_error", "consecutive_failures"])
            result.ran = True
    except (_PauseForKillSwitch, KillSwitchActive) as exc:
        result.paused = result.paused or f"kill switch active: {exc}"
        _pause(strategy_id, result.paused)
    except Exception as exc:
        logger.exception("strategy %s step failed", strategy_id)
        result.error = f"{type(exc).__name__}: {exc}"
        record_step_failure(strategy_id=strategy_id, error=result.error)
    return result


def _refusals_text(refused: list[dict[str, str]]) -> str:
    return "; ".join(f"{r['client_order_id']}: {r['code']} {r['message']}" for r in refused)[:2000]


def _pause(strategy_id: int, reason: str) -> None:
    try:
        lifecycle.pause_strategy(strategy_id=strategy_id, actor="engine", reason=reason)
    except ApplicationError:  # paused or stopped meanwhile
        logger.info("strategy %s not paused: no longer running", strategy_id)


def record_step_failure(*, strategy_id: int, error: str) -> None:
    """Count a failed step; after STRATEGY_MAX_CONSECUTIVE_FAILURES the strategy goes to ERROR."""
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().filter(pk=strategy_id).first()
        if strategy is None or strategy.status != StrategyStatus.RUNNING:
            return
        strategy.consecutive_failures += 1
        strategy.last_error = error[:2000]
        strategy.save(update_fields=["consecutive_failures", "last_error"])
        give_up = strategy.consecutive_failures >= settings.STRATEGY_MAX_CONSECUTIVE_FAILURES
    if give_up:
        lifecycle.mark_error(
            strategy_id=strategy_id,
            error=f"{settings.STRATEGY_MAX_CONSECUTIVE_FAILURES} consecutive failed steps; last: {error}",
        )


class _Step:
    def __init__(self, strategy: Strategy, now: datetime, result: StepResult) -> None:
        self.strategy = strategy
        self.now = now
        self.result = result
        self.engine = EngineState.from_json(strategy.state)
        self.runtime = self._build()
        self.intents_sent = 0

    def run(self) -> None:
        self._feed_order_events()
        self._feed_candles()
        self.engine.runtime = self.runtime.snapshot()
        self.engine.steps += 1
        self.strategy.state = self.engine.to_json()

    # --- building -------------------------------------------------------------------
    def _build(self) -> StrategyRuntime:
        strategy = self.strategy
        filters = get_symbol_filters(exchange=strategy.account.exchange, symbol=strategy.symbol)
        if filters is None:
            raise ApplicationError(f"No exchange filters known for {strategy.symbol}.")
        config = parse_config(StrategyKind(strategy.kind), strategy.config)
        history = self._history() if strategy.kind == StrategyKind.SWING else []
        if not self.engine.runtime_id:
            self.engine.runtime_id = _runtime_id(strategy)
        return build_runtime(
            strategy_id=self.engine.runtime_id,
            kind=StrategyKind(strategy.kind),
            config=config,
            filters=filters,
            state=self.engine.runtime,
            history=history,
        )

    def _history(self) -> list[CandleBar]:
        """Candles up to the last one already given (warm-up for indicator windows)."""
        end = from_ms(self.engine.last_candle + 1) if self.engine.last_candle is not None else self.now
        rows = candle_selectors.load_decimal_bars(
            symbol=self.strategy.symbol,
            interval=self.strategy.interval,
            count=settings.STRATEGY_HISTORY_CANDLES,
            now=end,
        )
        if self.engine.last_candle is None and rows:
            rows = rows[:-1]  # the latest closed candle is the first one given to on_candle
        return [_bar(c) for c in rows]

    # --- inputs -----------------------------------------------------------------------
    def _feed_order_events(self) -> None:
        tracked = self.engine.orders
        if not tracked:
            return
        orders = {
            o.client_order_id: o
            for o in Order.objects.filter(
                account_id=self.strategy.account_id, client_order_id__in=list(tracked)
            )
        }
        seen = {fill_id for t in tracked.values() for fill_id in t.fills}
        fills = list(
            Fill.objects.filter(order__in=list(orders.values()))
            .exclude(pk__in=seen)
            .select_related("order")
            .order_by("executed_at", "pk")
        )
        for fill in fills:
            tracked[fill.order.client_order_id].fills.append(fill.pk)
            self.result.fills += 1
            self._send(self.runtime.on_fill(_fill_report(fill)))
        for cid in sorted(tracked):
            order = orders.get(cid)
            if order is None:
                continue  # written in a rolled-back step: cannot happen, as state rolls back too
            self._give_final_status(cid, order)

    def _give_final_status(self, cid: str, order: Order) -> None:
        """A final order is told once and forgotten. Its fills were all given just before:
        apply_fill keeps `filled_quantity` equal to the sum of the order's fill rows in the
        same transaction, and every fill row of a tracked order is fed above."""
        if order.status not in FINAL:
            return
        del self.engine.orders[cid]
        self.result.updates += 1
        self._send(self.runtime.on_order_update(OrderUpdate(cid, OrderStatus(order.status))))

    def _feed_candles(self) -> None:
        last = self.engine.last_candle
        if last is None:
            latest = candle_selectors.latest_closed_candle(
                symbol=self.strategy.symbol, interval=self.strategy.interval, now=self.now
            )
            bars = [latest] if latest else []
        else:
            bars = candle_selectors.candles_between(
                symbol=self.strategy.symbol,
                interval=self.strategy.interval,
                start=from_ms(last + 1),
                end=self.now,
                limit=MAX_CANDLES_PER_STEP,
            )
        for candle in bars:
            if candle.close_time >= self.now:
                break  # not closed yet
            self.engine.last_candle = to_ms(candle.open_time)
            self.result.candles += 1
            self._send(self.runtime.on_candle(_bar(candle)))

    # --- outputs ----------------------------------------------------------------------
    def _send(self, intents: list[Intent]) -> None:
        if intents and not self.intents_sent:  # the step's first intent: lock once, before it
            self._lock_orders()
        queue: deque[Intent] = deque(intents)
        while queue:
            self.intents_sent += 1
            if self.intents_sent > MAX_INTENTS_PER_STEP:
                raise ApplicationError(f"More than {MAX_INTENTS_PER_STEP} intents in one step.")
            intent = queue.popleft()
            if isinstance(intent, PlaceIntent):
                queue.extend(self._place(intent))
            else:
                self._cancel(intent)

    def _lock_orders(self) -> None:
        """Before the step's first intent, lock every open order it could cancel, in one
        id-ordered statement. Its cancels then lock them again one by one, in the runtime's
        order, but only re-take locks this transaction holds: holding a later order while
        waiting for an earlier one that a fill burst holds (`apply_fills` locks in id order)
        would be a deadlock. Taken before any intent, so also before `submit_order`'s intake
        lock: orders first, then advisory locks, as a fill burst takes them. Orders placed in
        this step are its own rows, invisible to any other transaction until the step commits."""
        execution_services.lock_open_orders(
            account_id=self.strategy.account_id,
            client_order_ids=list(self.engine.orders),
            strategy_id=self.strategy.pk,
        )

    def _place(self, intent: PlaceIntent) -> list[Intent]:
        try:
            execution_services.submit_order(
                account=self.strategy.account,
                symbol=self.strategy.symbol,
                side=intent.side,
                order_type=intent.order_type,
                quantity=intent.quantity,
                price=intent.price,
                client_order_id=intent.client_order_id,
                strategy_id=self.strategy.pk,
            )
        except RiskRejected as exc:
            if any(r.get("code") == "risk_unavailable" for r in exc.details.get("reasons", [])):
                raise  # risk could not answer: fail the step (retried), never treat as a refusal
            return self._refused(intent, exc)
        except ValidationFailed as exc:  # exchange filters: refused before anything was written
            return self._refused(intent, exc)
        self.engine.orders.setdefault(intent.client_order_id, TrackedOrder())
        self.result.placed.append(intent.client_order_id)
        return []

    def _refused(self, intent: PlaceIntent, exc: ApplicationError) -> list[Intent]:
        self.result.refused.append(
            {"client_order_id": intent.client_order_id, "code": str(exc.code), "message": exc.message}
        )
        return self.runtime.on_order_update(OrderUpdate(intent.client_order_id, OrderStatus.REJECTED))

    def _cancel(self, intent: CancelIntent) -> None:
        order = Order.objects.filter(
            account_id=self.strategy.account_id, client_order_id=intent.client_order_id
        ).first()
        if order is None or order.status in FINAL or order.status == OrderStatus.CANCEL_REQUESTED:
            return
        execution_services.request_cancel(order_id=order.pk, requested_by=f"strategy:{self.strategy.pk}")
        self.result.cancels.append(intent.client_order_id)


def _runtime_id(strategy: Strategy) -> str:
    """`<pk>` for the first run, `<pk>_<n>` for the n-th fresh start (state reset)."""
    fresh_starts = StrategyEvent.objects.filter(
        strategy=strategy, to_status=StrategyStatus.RUNNING, details__fresh_state=True
    ).count()
    return str(strategy.pk) if fresh_starts <= 1 else f"{strategy.pk}_{fresh_starts}"


def _bar(candle: Any) -> CandleBar:
    return CandleBar(
        open_time=candle.open_time,
        close_time=candle.close_time,
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=candle.volume,
    )


def _fill_report(fill: Fill) -> FillReport:
    return FillReport(
        client_order_id=fill.order.client_order_id,
        side=Side(fill.order.side),
        price=fill.price,
        quantity=fill.quantity,
        commission=fill.commission,
        commission_asset=fill.commission_asset,
        executed_at=fill.executed_at,
    )
