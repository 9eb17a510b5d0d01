"""`manage.py demo setup | start` — the paper-trading demo that `bin/run` brings up.

setup (idempotent, needs the simulator running): a demo staff user (credentials printed), a
simulated exchange account on the local simulator, the demo symbol's filters from the
simulator's exchangeInfo, its recent 1m candles, and a Grid strategy around the current price
(created once; later runs keep it and its history).

start: wait until the strategy may start (user stream connected, risk worker heartbeat,
fresh candles, kill switch off), then start it. Exits when it is RUNNING (or already was).
"""

from __future__ import annotations

import os
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import SIM_API_KEY, SIM_API_SECRET
from apps.exchange.services import upsert_instrument
from apps.execution import services as execution_services
from apps.execution.models import ExchangeAccount
from apps.execution.venues import adapter_for
from apps.strategy.engine.dispatch import poll_series
from apps.strategy.models import Strategy, StrategyStatus
from apps.strategy.services import (
    create_strategy,
    start_preconditions,
    start_strategy,
    stop_strategy,
    update_strategy,
)

DEMO_USER = "demo"
DEMO_ACCOUNT = "demo-simulator"
DEMO_STRATEGY = "demo-grid"
SYMBOL, INTERVAL = "BTCUSDT", "1m"


class Command(BaseCommand):
    help = "Set up (setup) or start (start) the paper-trading demo on the local simulator."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["setup", "start"])
        parser.add_argument("--timeout", type=float, default=120.0, help="start: seconds to wait.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "setup":
            self._setup()
        else:
            self._start(options["timeout"])

    def _setup(self) -> None:
        password = os.environ.get("DEMO_PASSWORD", "demo-password")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        account = ExchangeAccount.objects.filter(owner=user, name=DEMO_ACCOUNT).first()
        if account is None:
            account = execution_services.create_account(
                owner=user, name=DEMO_ACCOUNT, mode=ExchangeAccount.Mode.SIMULATED,
                api_key=SIM_API_KEY, api_secret=SIM_API_SECRET,
            )  # fmt: skip
        adapter = adapter_for(account)
        upsert_instrument(exchange=account.exchange, filters=adapter.symbol_filters(symbol=SYMBOL))
        stored = poll_series(SYMBOL, INTERVAL, account.pk)
        strategy = Strategy.objects.filter(owner=user, name=DEMO_STRATEGY).first()
        config = _grid_around(_last_price(adapter))
        if strategy is None:
            strategy = create_strategy(
                owner=user, account=account, name=DEMO_STRATEGY, kind="GRID", symbol=SYMBOL,
                interval=INTERVAL, config=config, actor="demo",
            )  # fmt: skip
        else:
            strategy = _recentre(strategy, config)
        shown = "set by DEMO_PASSWORD" if "DEMO_PASSWORD" in os.environ else repr(password)
        if not created:
            shown += " unless changed since"
        self.stdout.write(
            f"demo: log in as {DEMO_USER!r} with password {shown}; account #{account.pk} on the "
            f"simulator; {stored} new candles; strategy #{strategy.pk} {strategy.name} ({strategy.status})"
        )

    def _start(self, timeout: float) -> None:
        strategy = Strategy.objects.filter(name=DEMO_STRATEGY, owner__username=DEMO_USER).first()
        if strategy is None:
            raise CommandError("run `manage.py demo setup` first")
        deadline = time.monotonic() + timeout
        reasons: list[str] = []
        while time.monotonic() < deadline:
            strategy.refresh_from_db()
            if strategy.status == StrategyStatus.RUNNING:
                self.stdout.write(f"demo: strategy {strategy.name} is running")
                return
            poll_series(strategy.symbol, strategy.interval, strategy.account_id)
            reasons = [r.code for r in start_preconditions(strategy)]
            if not reasons:
                start_strategy(strategy_id=strategy.pk, actor="demo")
                continue
            time.sleep(2)
        raise CommandError(f"the demo strategy could not start within {timeout:.0f}s: {', '.join(reasons)}")


def _recentre(strategy: Strategy, config: dict[str, Any]) -> Strategy:
    """A new run: the simulator keeps its book in memory only, so the previous run's resting
    orders are gone (reconciliation records them as canceled). Stop the strategy and centre
    its grid on today's price; `demo start` then starts it afresh (new client order ids).
    Orders, fills, positions and PnL of earlier runs stay."""
    if strategy.status not in (StrategyStatus.DRAFT, StrategyStatus.STOPPED):
        strategy = stop_strategy(strategy_id=strategy.pk, actor="demo", cancel_open_orders=False,
                                 reason="demo restarted: the simulator's book is new")  # fmt: skip
    return update_strategy(
        strategy_id=strategy.pk, expected_version=strategy.version, changes={"config": config}, actor="demo"
    )


def _last_price(adapter: Any) -> Decimal:
    klines = adapter.klines(symbol=SYMBOL, interval=INTERVAL, limit=1)
    if not klines:
        raise CommandError("the simulator has no price for the demo symbol yet")
    return Decimal(klines[-1].close)


def _grid_around(price: Decimal) -> dict[str, Any]:
    """Nine levels 0.25 % apart around the price: the random walk crosses some every minute."""
    lower = (price * Decimal("0.99")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    upper = (price * Decimal("1.01")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return {
        "lower_price": str(lower), "upper_price": str(upper), "levels": 9,
        "spacing": "arithmetic", "quantity_per_level": "0.001",
    }  # fmt: skip
