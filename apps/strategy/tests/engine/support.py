"""Replaying candles into the simulator and the candle table, and running engine steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.candles.domain import CandleData
from apps.candles.services import upsert_candles
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services as execution
from apps.execution.models import ExchangeAccount
from apps.strategy.engine.step import StepResult, run_strategy_step
from apps.strategy.models import Strategy, StrategyStatus
from apps.strategy.services.strategies import create_strategy

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
D = Decimal


def bar(i: int, o: str, h: str, low: str, c: str) -> CandleData:
    start = T0 + i * MINUTE
    return CandleData(
        open_time=start, open=D(o), high=D(h), low=D(low), close=D(c),
        volume=D(1), close_time=start + MINUTE - timedelta(milliseconds=1),
    )  # fmt: skip


def path(c: CandleData) -> list[Decimal]:
    """The matching engine's path: a rising candle dips first (O L H C), a falling one (O H L C)."""
    return [c.open, c.low, c.high, c.close] if c.close >= c.open else [c.open, c.high, c.low, c.close]


def trade_candle(
    sim: SimulatorServer, account: ExchangeAccount, c: CandleData, symbol: str = "BTCUSDT"
) -> None:
    """Move the simulator's market along the candle, then bring its trades into our books."""
    for price in path(c):
        sim.set_price(symbol, price)
    execution.reconcile_account(account_id=account.pk, trigger="test")


def close_candle(strategy: Strategy, c: CandleData) -> StepResult:
    upsert_candles(symbol=strategy.symbol, interval=strategy.interval, candles=[c])
    return run_strategy_step(strategy_id=strategy.pk, now=c.close_time + timedelta(milliseconds=2))


def running_strategy(
    account: ExchangeAccount, kind: str, config: dict[str, Any], name: str = "bot"
) -> Strategy:
    strategy = create_strategy(
        owner=account.owner, account=account, name=name, kind=kind, symbol="BTCUSDT",
        interval="1m", config=config, actor="test",
    )  # fmt: skip
    Strategy.objects.filter(pk=strategy.pk).update(status=StrategyStatus.RUNNING)
    strategy.refresh_from_db()
    return strategy


# The grid's books by hand. Each buy's 0.1 % commission is paid in BTC and leaves the position
# as a sale at its fill price (docs/PORTFOLIO.md, "Base-asset commissions"). After the market
# buy 0.002 @ 30,000 (fee 0.000002): 0.001998 at 30,000. The limit buy 0.001 @ 29,500 brings
# the average cost to (0.001998 x 30,000 + 0.001 x 29,500) / 0.002998 = 29,833.22…, and its
# fee 0.000001 leaves at 29,500; then the sells 0.00099 @ 30,000 and @ 30,500.
GRID_AVERAGE = (D("0.001998") * 30000 + D("0.001") * 29500) / D("0.002998")
GRID_REALIZED = (
    (29500 - GRID_AVERAGE) * D("0.000001")
    + D("0.00099") * (30000 - GRID_AVERAGE)
    + D("0.00099") * (30500 - GRID_AVERAGE)
)
