"""One soak run: set up the accounts, start the stack, trade under the fault schedule, let
the books settle, check the invariants. Imported after django.setup() (see __main__)."""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from django.utils import timezone

from apps.exchange.services import upsert_instrument
from apps.exchange.simulator.faults import TIMEOUT
from apps.exchange.simulator.presets import PRESETS
from apps.exchange.simulator.server import SimulatorServer
from apps.execution import services as execution
from apps.execution.models import ExchangeAccount, Fill, Order, OutboxEvent
from apps.execution.user_stream import account_stream_state
from apps.risk.models import KillSwitchChange
from apps.risk.services import deactivate_kill_switch, kill_switch_state
from apps.strategy.engine.dispatch import is_due
from apps.strategy.models import Strategy, StrategyStatus
from apps.strategy.services.lifecycle import start_strategy
from apps.strategy.services.strategies import create_strategy

from . import faults as f
from . import invariants
from .client import ApiClient
from .feed import Feed, Walk
from .ledger import account_books
from .stack import RedisServer, Stack, StackError

PASSWORD = "soak-password-not-secret"  # noqa: S105 - a throwaway user on a throwaway database
KEYS = {"bots": ("soak-bots-key-0123456789", "soak-bots-secret-0123456789"),
        "desk": ("soak-desk-key-0123456789", "soak-desk-secret-0123456789")}  # fmt: skip
INITIAL = {"USDT": Decimal(10_000_000), "BTC": Decimal(100), "ETH": Decimal(1000),
           "BNB": Decimal(10_000), "SOL": Decimal(100_000)}  # fmt: skip

GRID = {"lower_price": "57000", "upper_price": "63000", "levels": 13, "spacing": "arithmetic",
        "quantity_per_level": "0.001"}  # fmt: skip
DCA = {"base_order_quote": "100", "safety_order_quote": "100", "max_safety_orders": 3,
       "max_active_safety_orders": 1, "price_deviation_pct": "0.5", "step_scale": "1.5",
       "volume_scale": "1.5",
       "take_profit": [{"pct": "0.6", "close_fraction": "1"}], "cooldown_bars": 1}  # fmt: skip
SWING = {"entry": "close > sma(close, 3)", "exit": "close < sma(close, 3)", "sizing_mode": "quote",
         "sizing_value": "100"}  # fmt: skip
STRATEGIES: list[tuple[str, str, dict[str, Any]]] = [
    ("GRID", "BTCUSDT", GRID),
    ("DCA", "ETHUSDT", DCA),
    ("SWING", "BNBUSDT", SWING),
]


@dataclass
class Options:
    duration: float
    seed: int
    run_dir: Path
    seconds_per_candle: float = 0.5
    client_interval: float = 0.25
    settle_timeout: float = 180.0
    min_fills: int = 0
    in_flight_allowance: float = 2.0
    mean_fault_gap: float = 6.0


@dataclass
class Probe:
    fault: f.Fault
    ended: float  # monotonic time the fault ended (the process was started again, …)
    needed: set[tuple[str, str, int]]
    extra: Callable[[], bool] | None = None
    recovered_after: float | None = None


@dataclass
class Run:
    injected: list[tuple[float, f.Fault]] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    deactivations: list[datetime] = field(default_factory=list)  # when each deactivation began
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Soak:
    def __init__(self, options: Options, redis: RedisServer, env: dict[str, str]) -> None:
        self.o = options
        self.redis = redis
        self.env = env
        self.sim = SimulatorServer(seed=options.seed, orders_per_10s=100_000, weight_limit_per_minute=10**7)
        self.run = Run()
        self.stop = threading.Event()
        self.stack: Stack | None = None
        self.accounts: dict[str, ExchangeAccount] = {}
        self.strategies: list[int] = []

    # --- set-up -----------------------------------------------------------------------------

    def setup(self) -> None:
        self.sim.start()
        for filters, price in PRESETS.values():
            self.sim.add_symbol(filters, price=price)
            upsert_instrument(exchange="binance", filters=filters)
        ExchangeAccount.objects.update(is_active=False)  # a reused database: only this run's accounts
        user_model = get_user_model()
        username = f"soak-{self.o.seed}-{int(time.time())}"
        self.user = user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True)
        for name, (key, secret) in KEYS.items():
            self.sim.add_account(api_key=key, api_secret=secret, balances=INITIAL)
            self.accounts[name] = execution.create_account(
                owner=self.user,
                name=name,
                mode=ExchangeAccount.Mode.SIMULATED,
                api_key=key,
                api_secret=secret,
            )
        self.env.update(SIMULATOR_BASE_URL=self.sim.base_url, SIMULATOR_WS_API_URL=self.sim.ws_api_url)
        candles = int(self.o.duration / self.o.seconds_per_candle) + 400
        start = timezone.now() - timedelta(minutes=candles)
        walks = [Walk("BTCUSDT", Decimal(60000), Decimal("0.01"), Decimal("0.004"), stored=True),
                 Walk("ETHUSDT", Decimal(3000), Decimal("0.01"), Decimal("0.004"), stored=True),
                 Walk("BNBUSDT", Decimal(600), Decimal("0.01"), Decimal("0.004"), stored=True),
                 Walk("SOLUSDT", Decimal(150), Decimal("0.01"), Decimal("0.003"), stored=False)]  # fmt: skip
        self.feed = Feed(self.sim, walks, seed=self.o.seed, start=start)
        self.feed.warm_up(30)

    def start_stack(self) -> None:
        web_port = int(self.env["SOAK_WEB_PORT"])
        self.stack = Stack(self.env, self.o.run_dir, web_port)
        for name in ("web", "worker-1", "worker-2", "beat", "stream"):
            self.stack.start(name)
        self.stack.wait_for(self._streams_connected, 60, "user streams connected")
        deactivate_kill_switch(reason="soak start", actor="soak")
        base = f"http://127.0.0.1:{web_port}"
        self.client = ApiClient(base, username=self.user.username, password=PASSWORD,
                                account_id=self.accounts["desk"].pk, seed=self.o.seed)  # fmt: skip
        self.operator = ApiClient(base, username=self.user.username, password=PASSWORD,
                                  account_id=self.accounts["desk"].pk, seed=self.o.seed + 1)  # fmt: skip
        self.client.login()
        self.operator.login()
        for kind, symbol, config in STRATEGIES:
            strategy = create_strategy(
                owner=self.user, account=self.accounts["bots"], name=f"{kind.lower()}-soak", kind=kind,
                symbol=symbol, interval="1m", config=config, actor="soak",
            )  # fmt: skip
            self.strategies.append(strategy.pk)
        self.stack.wait_for(self._start_strategies, 60, "strategies running")

    def _streams_connected(self) -> bool:
        try:
            return all(account_stream_state(a.pk)["state"] == "connected" for a in self.accounts.values())
        except Exception:  # noqa: BLE001 - Redis restarting: not connected yet
            return False

    def _start_strategies(self) -> bool:
        """Start (or resume after the kill switch) every strategy that is not running."""
        now = self.feed.last_close_time + timedelta(seconds=1)
        running = True
        for strategy in Strategy.objects.filter(pk__in=self.strategies).exclude(
            status=StrategyStatus.RUNNING
        ):
            try:
                start_strategy(strategy_id=strategy.pk, actor="soak", now=now)
            except Exception:  # noqa: BLE001 - refused for now (stream reconnecting, switch on): later
                running = False
        return running

    # --- the trading phase -----------------------------------------------------------------

    def trade(self) -> None:
        threads = [self._thread(self._feed_loop), self._thread(self._client_loop),
                   self._thread(self._monitor_loop)]  # fmt: skip
        self.began = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            self._inject(f.schedule(self.o.seed, self.o.duration, mean_gap_seconds=self.o.mean_fault_gap))
            while time.monotonic() - self.began < self.o.duration:
                time.sleep(0.2)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(60)

    def _thread(self, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except Exception:  # noqa: BLE001 - recorded in the report, the run goes on
                self.run.errors.append(traceback.format_exc())
            finally:
                connection.close()

        return threading.Thread(target=run, daemon=True, name=target.__name__)

    def _feed_loop(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            close_old_connections()
            self.feed.step()
            with contextlib.suppress(Exception):
                if not kill_switch_state().active:
                    self._start_strategies()
            self.stop.wait(max(0.0, self.o.seconds_per_candle - (time.monotonic() - started)))

    def _client_loop(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            price = self.sim.exchange.price("SOLUSDT") or Decimal(150)
            self.client.act("SOLUSDT", price)
            self.stop.wait(max(0.0, self.o.client_interval - (time.monotonic() - started)))

    def _inject(self, schedule: list[f.Fault]) -> None:
        """Run the schedule in this thread; a fault's end (restart, switch off) is a timer."""
        for fault in schedule:
            delay = fault.at - (time.monotonic() - self.began)
            if delay > 0 and self.stop.wait(delay):
                return
            try:
                self._apply(fault)
            except Exception:  # noqa: BLE001 - recorded; the schedule goes on
                self.run.errors.append(f"{fault.describe()}: {traceback.format_exc()}")

    def _apply(self, fault: f.Fault) -> None:
        stack, p = self.stack, fault.params
        assert stack is not None
        self.run.injected.append((time.monotonic() - self.began, fault))
        if fault.kind == f.WORKER_KILL:
            if p["worker"] in stack.procs:
                stack.kill(p["worker"])
            self._later(p["down_s"], fault, lambda: stack.start(p["worker"], wait=False),
                        extra=lambda: stack.ready(p["worker"]))  # fmt: skip
        elif fault.kind == f.STREAM_KILL:
            if "stream" in stack.procs:
                stack.kill("stream")
            self._later(
                p["down_s"], fault, lambda: stack.start("stream", wait=False), extra=self._streams_connected
            )
        elif fault.kind == f.WS_DROP:
            self.sim.faults.drop_websockets()
            self._probe(fault, extra=self._streams_connected)
        elif fault.kind == f.WS_DELAY:
            self.sim.faults.delay_events_ms = p["delay_ms"]
            self._later(p["for_s"], fault, lambda: setattr(self.sim.faults, "delay_events_ms", 0))
        elif fault.kind in (f.VENUE_5XX, f.VENUE_TIMEOUT, f.VENUE_429):
            status = {f.VENUE_5XX: p.get("status", 500), f.VENUE_TIMEOUT: TIMEOUT, f.VENUE_429: 429}[
                fault.kind
            ]
            self.sim.faults.fail_next(p["n"], status, target=p["target"])
            self._probe(fault)
        elif fault.kind == f.REDIS_RESTART:
            self.redis.stop()
            self._later(p["down_s"], fault, self.redis.start, extra=self._streams_connected)
        elif fault.kind == f.KILL_SWITCH:
            self._operator(
                "activate", {"reason": "soak fault", "cancel_open_orders": p["cancel_open_orders"]}
            )
            self._later(p["on_s"], fault, self._switch_off)

    def _switch_off(self) -> None:
        self.run.deactivations.append(timezone.now())
        self._operator("deactivate", {"reason": "soak fault over"})

    def _operator(self, action: str, body: dict[str, Any]) -> None:
        for _ in range(100):
            response = self.operator.call("POST", f"/api/v1/kill-switch/{action}/", body=body)
            if response is not None and response.status_code == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"kill switch {action} failed")

    def _later(self, seconds: float, fault: f.Fault, action: Callable[[], None],
               extra: Callable[[], bool] | None = None) -> None:  # fmt: skip
        def end() -> None:
            try:
                action()
            except Exception:  # noqa: BLE001
                self.run.errors.append(f"end of {fault.describe()}: {traceback.format_exc()}")
            finally:
                self._probe(fault, extra=extra)
                connection.close()

        timer = threading.Timer(seconds, end)
        timer.daemon = True
        timer.start()
        self.timers = [*getattr(self, "timers", []), timer]

    def _probe(self, fault: f.Fault, extra: Callable[[], bool] | None = None) -> None:
        needed = self._ledger()
        with self.run.lock:
            self.run.probes.append(Probe(fault, time.monotonic(), needed, extra))

    def _ledger(self) -> set[tuple[str, str, int]]:
        return {
            (name, t.symbol, t.trade_id)
            for name, (key, _) in KEYS.items()
            for t in self.sim.exchange.trades(key)
        }

    def _booked(self) -> set[tuple[str, str, int]]:
        names = {a.pk: name for name, a in self.accounts.items()}
        rows = Fill.objects.filter(account__in=self.accounts.values()).values_list(
            "account_id", "symbol", "exchange_fill_id"
        )
        return {(names[a], s, i) for a, s, i in rows}

    def _monitor_loop(self) -> None:
        """Time to recover: from a fault's end until every venue trade made before it is booked
        (and, for stream faults, the streams are connected again; for a worker, it is ready)."""
        while not self.stop.is_set() or self._pending():
            close_old_connections()
            with contextlib.suppress(Exception):
                booked = self._booked()
                with self.run.lock:
                    for probe in self._pending():
                        if probe.needed <= booked and (probe.extra is None or probe.extra()):
                            probe.recovered_after = time.monotonic() - probe.ended
            if (
                self.stop.wait(0.25)
                and time.monotonic() - self.began > self.o.duration + self.o.settle_timeout
            ):
                return

    def _pending(self) -> list[Probe]:
        return [p for p in self.run.probes if p.recovered_after is None]

    # --- settling and checking ---------------------------------------------------------------

    def settle(self) -> float | None:
        """Faults off, every process up, switch off; then wait for quiet books."""
        for timer in getattr(self, "timers", []):
            timer.join(30)
        self.sim.faults.reset()
        assert self.stack is not None
        if self.redis.process is None:
            self.redis.start()
        for name in ("web", "worker-1", "worker-2", "beat", "stream"):
            if name not in self.stack.procs:
                self.stack.start(name, wait=False)
        with contextlib.suppress(Exception):
            if kill_switch_state().active:
                self._switch_off()
        started = time.monotonic()
        monitor = self._thread(self._monitor_loop)
        self.stop.clear()
        monitor.start()
        try:
            self._wait_until_quiet_holds(started + self.o.settle_timeout)
            settled: float | None = time.monotonic() - started
        except StackError as exc:
            self.run.errors.append(f"settle: {exc}")
            settled = None
        self.stop.set()
        monitor.join(30)
        return settled

    def _wait_until_quiet_holds(self, deadline: float) -> None:
        """Quiet, and still quiet a second later: the strategies keep running while we settle
        (an order placed then must be booked and delivered too before the stack stops)."""
        assert self.stack is not None
        while True:
            self.stack.wait_for(self._quiet, max(1.0, deadline - time.monotonic()), "settled books")
            time.sleep(1.0)
            if self._quiet():
                return
            if time.monotonic() > deadline:
                raise StackError("settled books did not hold for a second before the settle timeout")

    def _quiet(self) -> bool:
        """Every venue trade booked, every event delivered and no strategy step pending, at one
        moment. The order of the reads matters: the venue's trades, our fills, the outbox, the
        venue's trades again. A fill booked by the last-but-one read had its event written in the same
        transaction, so an empty outbox after it means that event was delivered; an unchanged
        ledger means no trade happened in between. (Reading the outbox first let a fill
        booked between two reads pass with its event still undelivered.)"""
        close_old_connections()
        accounts = list(self.accounts.values())
        ledger = self._ledger()
        if ledger != self._booked():
            return False
        if Order.objects.filter(account__in=accounts, status__in=["NEW", "CANCEL_REQUESTED"]).exists():
            return False
        if OutboxEvent.objects.filter(published_at__isnull=True).exists():
            return False
        if self._strategies_due():
            return False
        return self._ledger() == ledger

    def _strategies_due(self) -> bool:
        """A running strategy with a step to take (a new candle, or a fill or final status it
        has not seen): its step may still place an order, which must settle too before the
        stack stops. (A delivered `fill.recorded` only queues that step; an empty outbox
        does not mean it ran.) The worker e2e test's `unsettled` asks the same."""
        now = timezone.now()
        running = Strategy.objects.filter(pk__in=self.strategies, status=StrategyStatus.RUNNING)
        return any(is_due(strategy, now) for strategy in running)

    def check(self) -> invariants.CheckResult:
        books = [account_books(self.sim, a, api_key=KEYS[name][0], initial_balances=INITIAL)
                 for name, a in self.accounts.items()]  # fmt: skip
        return invariants.check(
            books, kill_switch=self.kill_switch_intervals(), client_requests=self.client.requests,
            in_flight_allowance=timedelta(seconds=self.o.in_flight_allowance),
        )  # fmt: skip

    def kill_switch_intervals(self) -> list[invariants.KillSwitchInterval]:
        """Every activation (ours or the watchdog's) from its audit row — written after the
        flag, so the switch was on by then — to the start of the next deactivation."""
        intervals = []
        rows = KillSwitchChange.objects.filter(active=True, created_at__gte=self.started_at).order_by(
            "created_at"
        )
        for row in rows:
            ends = [d for d in self.run.deactivations if d >= row.created_at]
            intervals.append(
                invariants.KillSwitchInterval(row.created_at, min(ends) if ends else None, row.actor)
            )
        return intervals

    def shutdown(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.sim.stop()

    def execute(self) -> dict[str, Any]:
        self.started_at = datetime.now(tz=UTC)
        try:
            self.setup()
            self.start_stack()
            self.trade()
            settled = self.settle()
            if self.stack is not None:
                self.stack.stop()
            result = self.check()
            return self.report(result, settled)
        finally:
            self.shutdown()

    def report(self, result: invariants.CheckResult, settled: float | None) -> dict[str, Any]:
        from .report import build  # noqa: PLC0415 - keeps this module's imports about running

        return build(self, result, settled)
