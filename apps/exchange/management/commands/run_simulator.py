"""`manage.py run_simulator`: the local Binance-compatible venue in the foreground (Ctrl-C stops).

For the demo and manual testing: python-binance (or our adapter) pointed at the printed URLs
trades against a seeded random-walk market that never leaves 127.0.0.1.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.decimals import parse_decimal
from apps.core.errors import ValidationFailed
from apps.exchange.simulator import SimulatorServer
from apps.exchange.simulator.feed import RandomWalk
from apps.exchange.simulator.presets import PRESETS

_TICKS_PER_MINUTE = 4


class Command(BaseCommand):
    help = "Run the local Binance-Spot-compatible simulator (REST + WebSocket API) on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--seed", type=int, default=0, help="Seed of the price walk and generated ids.")
        parser.add_argument(
            "--symbols", default="BTCUSDT,ETHUSDT", help=f"Comma-separated; known: {', '.join(PRESETS)}."
        )
        parser.add_argument("--random-walk", action="store_true", help="Move prices on a seeded random walk.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between random-walk ticks.")
        parser.add_argument("--step-bps", default="10", help="Largest random-walk move per tick, in bps.")
        parser.add_argument(
            "--backfill-minutes", type=int, default=0, help="Seed this much random-walk history (for klines)."
        )
        parser.add_argument(
            "--liquidity-per-tick", default=None, help="Max quantity filled per tick and side."
        )
        parser.add_argument("--api-key", default=None, help="Create a demo account with this API key.")
        parser.add_argument("--api-secret", default=None)
        parser.add_argument(
            "--balance",
            action="append",
            default=[],
            metavar="ASSET=AMOUNT",
            help="Demo account balance (repeatable); default USDT=100000.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        symbols = [s.strip().upper() for s in options["symbols"].split(",") if s.strip()]
        unknown = [s for s in symbols if s not in PRESETS]
        if unknown:
            raise CommandError(f"Unknown symbols {unknown}; known: {', '.join(PRESETS)}.")
        liquidity = _decimal(options["liquidity_per_tick"], "liquidity-per-tick")
        server = SimulatorServer(port=options["port"], seed=options["seed"])
        walks = {}
        for index, symbol in enumerate(symbols):
            filters, start = PRESETS[symbol]
            server.add_symbol(filters, price=start, liquidity_per_tick=liquidity)
            walks[symbol] = RandomWalk(
                start=start,
                tick=filters.tick_size,
                seed=options["seed"] * 1000 + index,
                step_bps=_decimal(options["step_bps"], "step-bps") or Decimal(10),
            )
        self._add_account(server, options)
        server.start()
        self._backfill(server, walks, options["backfill_minutes"])
        self.stdout.write(f"Binance simulator on {server.base_url}")
        self.stdout.write(f"  python-binance API_URL   = {server.base_url}/api")
        self.stdout.write(f"  python-binance WS_API_URL = {server.ws_api_url}")
        self.stdout.write(
            f"  symbols: {', '.join(symbols)}; random walk: {'on' if options['random_walk'] else 'off'}"
        )
        self.stdout.write("Ctrl-C stops it.")
        stop = threading.Event()
        try:
            while not stop.wait(options["interval"]):
                if options["random_walk"]:
                    for symbol, walk in walks.items():
                        server.set_price(symbol, walk.step())
        except KeyboardInterrupt:
            self.stdout.write("Stopping the simulator.")
        finally:
            server.stop()

    def _add_account(self, server: SimulatorServer, options: dict[str, Any]) -> None:
        key, secret = options["api_key"], options["api_secret"]
        if not key:
            return
        if not secret:
            raise CommandError("--api-secret is required with --api-key.")
        balances = dict(_balance(raw) for raw in options["balance"]) or {"USDT": Decimal(100000)}
        server.add_account(api_key=key, api_secret=secret, balances=balances)
        self.stdout.write(f"Demo account {key}: {', '.join(f'{a}={v}' for a, v in balances.items())}")

    @staticmethod
    def _backfill(server: SimulatorServer, walks: dict[str, RandomWalk], minutes: int) -> None:
        if minutes <= 0:
            return
        now = server.now_ms()
        step_ms = 60_000 // _TICKS_PER_MINUTE
        count = minutes * _TICKS_PER_MINUTE
        for symbol, walk in walks.items():
            ticks = [(now - (count - i) * step_ms, walk.step()) for i in range(count)]
            server.record_history(symbol, ticks)
            server.set_price(symbol, walk.price)


def _decimal(raw: str | None, name: str) -> Decimal | None:
    if raw is None:
        return None
    try:
        return parse_decimal(raw, field=name)
    except ValidationFailed as exc:
        raise CommandError(f"--{name}: {exc.message}") from exc


def _balance(raw: str) -> tuple[str, Decimal]:
    asset, _, amount = raw.partition("=")
    value = _decimal(amount, "balance")
    if not asset or value is None:
        raise CommandError(f"--balance takes ASSET=AMOUNT, not {raw!r}.")
    return asset.strip().upper(), value
