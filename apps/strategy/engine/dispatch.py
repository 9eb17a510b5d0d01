"""What makes steps happen: the candle poller, the supervisor on beat, and fills.

- `poll_candles`: for every (symbol, interval) a running strategy trades, fetch the klines
  closed since the last stored one through an account's adapter, upsert them, and record the
  latest close as portfolio's mark for the symbol.
- `supervise_running_strategies`: while the kill switch is on, pause every running
  strategy (they stay paused until started again); otherwise queue a step for each running
  strategy that has something new (a closed candle it has not seen, or news about one of its
  orders).
- a `fill.recorded` outbox consumer queues a step for the fill's strategy at once, so a grid's
  counter-order does not wait for the next candle.
Queuing a step twice is harmless: the step locks the strategy and finds nothing new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.candles import selectors as candle_selectors
from apps.candles import services as candle_services
from apps.candles.domain import CandleData
from apps.candles.intervals import nominal_ms, to_ms
from apps.core.errors import ApplicationError
from apps.exchange.domain import Kline
from apps.execution.models import ExchangeAccount, Fill, Order
from apps.execution.services.outbox import OutboxMessage
from apps.execution.venues import adapter_for
from apps.portfolio import services as portfolio_services
from apps.risk.services import kill_switch_state
from apps.strategy.models import Strategy, StrategyStatus
from apps.strategy.services import lifecycle

from .state import EngineState

logger = logging.getLogger(__name__)
FINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")


@dataclass
class SupervisionResult:
    paused: list[int] = field(default_factory=list)
    due: list[int] = field(default_factory=list)


def supervise_running_strategies(*, now: datetime | None = None) -> SupervisionResult:
    from apps.strategy import tasks  # noqa: PLC0415 - tasks import this module

    now = now or timezone.now()
    result = SupervisionResult()
    running = list(Strategy.objects.filter(status=StrategyStatus.RUNNING).order_by("pk"))
    switch = kill_switch_state()
    if switch.active:
        for strategy in running:
            try:
                lifecycle.pause_strategy(
                    strategy_id=strategy.pk,
                    actor="kill-switch",
                    reason=f"kill switch active: {switch.reason}",
                )
                result.paused.append(strategy.pk)
            except ApplicationError:
                continue
        return result
    for strategy in running:
        if is_due(strategy, now):
            result.due.append(strategy.pk)
            tasks.run_strategy_step.delay(strategy.pk)
    return result


def is_due(strategy: Strategy, now: datetime) -> bool:
    engine = EngineState.from_json(strategy.state)
    latest = candle_selectors.latest_closed_candle(
        symbol=strategy.symbol, interval=strategy.interval, now=now
    )
    if latest is not None and (engine.last_candle is None or to_ms(latest.open_time) > engine.last_candle):
        return True
    if not engine.orders:
        return False
    orders = Order.objects.filter(account_id=strategy.account_id, client_order_id__in=list(engine.orders))
    if orders.filter(status__in=FINAL).exists():
        return True  # a final status to give
    seen = {f for t in engine.orders.values() for f in t.fills}
    return Fill.objects.filter(order__in=orders).exclude(pk__in=seen).exists()


def on_fill_recorded(message: OutboxMessage) -> None:
    """Outbox consumer: a strategy's order filled → queue its step (idempotent by nature)."""
    from apps.strategy import tasks  # noqa: PLC0415

    strategy_id = message.payload.get("strategy_id")
    if strategy_id:
        tasks.run_strategy_step.delay(int(strategy_id))


def poll_candles(*, now: datetime | None = None) -> dict[str, int]:
    """Fetch newly closed candles of every series a running strategy trades."""
    now = now or timezone.now()
    stored: dict[str, int] = {}
    series = (
        Strategy.objects.filter(status=StrategyStatus.RUNNING)
        .values_list("symbol", "interval", "account_id")
        .order_by("symbol", "interval", "account_id")
    )
    done: set[tuple[str, str]] = set()
    for symbol, interval, account_id in series:
        if (symbol, interval) in done:
            continue
        done.add((symbol, interval))
        try:
            stored[f"{symbol}:{interval}"] = poll_series(symbol, interval, account_id, now)
        except Exception:  # one series failing must not stop the others
            logger.exception("candle poll failed for %s %s", symbol, interval)
    return stored


def poll_series(symbol: str, interval: str, account_id: int, now: datetime | None = None) -> int:
    """Store the series' candles closed since the last stored one (or the last
    STRATEGY_HISTORY_CANDLES); returns how many rows were new or revised."""
    now = now or timezone.now()
    latest = candle_selectors.latest_candle(symbol=symbol, interval=interval)
    step = timedelta(milliseconds=nominal_ms(interval))
    start = latest.open_time if latest else now - step * settings.STRATEGY_HISTORY_CANDLES
    adapter = adapter_for(ExchangeAccount.objects.get(pk=account_id))  # public market data
    klines = adapter.klines(symbol=symbol, interval=interval, start=start, limit=1000)
    closed = [_candle(k) for k in klines if k.close_time < now]
    if not closed:
        return 0
    stored = candle_services.upsert_candles(symbol=symbol, interval=interval, candles=closed)
    # The latest close is the mark portfolio values positions at (never moved back in time).
    account = ExchangeAccount.objects.get(pk=account_id)
    last = closed[-1]
    portfolio_services.record_mark(
        symbol=symbol,
        price=last.close,
        as_of=last.close_time,
        source=f"candle:{interval}",
        exchange=account.exchange,
    )
    return stored


def _candle(k: Kline) -> CandleData:
    return CandleData(
        open_time=k.open_time,
        open=k.open,
        high=k.high,
        low=k.low,
        close=k.close,
        volume=k.volume,
        close_time=k.close_time,
    )
