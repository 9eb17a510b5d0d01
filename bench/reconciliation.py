"""One reconciliation run of an account with `--orders` open orders over `--symbols` symbols,
against the project's Binance-compatible simulator (apps.exchange.simulator, 127.0.0.1 only).

Setup: the simulator (its order-rate limits raised so that the setup can place 1,000 orders;
the request-weight limit stays Binance's 6,000 per minute), `--symbols` instruments, an
account, and `--orders` LIMIT buys below the market placed through the live path
(`submit_order` + `send_order_to_exchange`, as the Celery task does), round-robin over the
symbols. No user-data stream runs, as when the stream is down.

Runs, each `reconcile_account(...)` timed end to end and its ReconciliationRun read back
(requests and weight counted by the adapter):
  - first run: no trade cursor yet, so `myTrades` starts from trade id 0 for every symbol;
  - steady state: everything in sync (what the 60 s beat does most of the time);
  - repair: the market moved through `--fill-symbols` symbols while the stream was down, so
    their resting orders filled on the venue: the run applies the missed fills.
Baseline, same run: the steady-state run's venue calls alone (openOrders and myTrades per
symbol, account), through the same adapter, without any database work.

    .venv/bin/python bench/reconciliation.py [--orders 1000] [--symbols 20] [--fill-symbols 5]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from apps.exchange.adapter import ExchangeAdapter
    from apps.exchange.simulator.server import SimulatorServer
    from apps.execution.models import ExchangeAccount

API_KEY, API_SECRET = "bench-key-0123456789", "bench-secret-0123456789abcdef"
MARKET = Decimal("100.00")
LIMIT_PRICE = Decimal("90.00")
ORDER_QTY = Decimal("1.000")
WEIGHT_LIMIT_PER_MINUTE = 6000


def symbols(count: int) -> list[str]:
    return [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}USDT" for i in range(count)]


def filters(symbol: str) -> Any:
    from apps.core.domain import SymbolFilters

    return SymbolFilters(
        symbol=symbol,
        base_asset=symbol.removesuffix("USDT"),
        quote_asset="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("100000"),
        min_notional=Decimal("5"),
    )


def reset_tables() -> None:
    from apps.execution.models import (
        Fill,
        Order,
        OrderEvent,
        OutboxEvent,
        ReconciliationCursor,
        ReconciliationRun,
    )

    benchlib.truncate(
        Fill._meta.db_table,
        OrderEvent._meta.db_table,
        Order._meta.db_table,
        OutboxEvent._meta.db_table,
        ReconciliationCursor._meta.db_table,
        ReconciliationRun._meta.db_table,
    )


def start_simulator(names: list[str]) -> SimulatorServer:
    from apps.exchange.services import upsert_instrument
    from apps.exchange.simulator.server import SimulatorServer

    server = SimulatorServer(
        host="127.0.0.1",
        port=0,
        seed=7,
        weight_limit_per_minute=WEIGHT_LIMIT_PER_MINUTE,
        orders_per_10s=1_000_000,  # the setup places every order within a few seconds
        orders_per_day=10_000_000,
    )
    server.start()
    for name in names:
        server.add_symbol(filters(name), price=MARKET)
        upsert_instrument(exchange="binance", filters=filters(name))
    server.add_account(api_key=API_KEY, api_secret=API_SECRET, balances={"USDT": Decimal("100000000")})
    return server


def create_account() -> ExchangeAccount:
    from django.contrib.auth import get_user_model

    from apps.execution.models import ExchangeAccount
    from apps.execution.services import create_account as create

    user, _ = get_user_model().objects.get_or_create(username="bench-reconcile")
    ExchangeAccount.objects.filter(owner=user).delete()
    return create(
        owner=user, name="sim", mode=ExchangeAccount.Mode.SIMULATED, api_key=API_KEY, api_secret=API_SECRET
    )


def place_orders(account: ExchangeAccount, names: list[str], count: int) -> float:
    """Orders through the live path; returns the seconds it took."""
    from apps.core.domain import OrderStatus
    from apps.execution import services

    start = time.perf_counter()
    for i in range(count):
        order = services.submit_order(
            account=account,
            symbol=names[i % len(names)],
            side="BUY",
            order_type="LIMIT",
            quantity=ORDER_QTY,
            price=LIMIT_PRICE,
            client_order_id=f"bench-rec-{i}",
        ).order
        sent = services.send_order_to_exchange(order_id=order.pk)
        if sent.status != OrderStatus.SUBMITTED:
            raise AssertionError(f"order {i} was not accepted by the simulator: {sent.status}")
    return time.perf_counter() - start


def run_once(account: ExchangeAccount, label: str) -> dict[str, Any]:
    from apps.execution.models import ReconciliationRun
    from apps.execution.services.reconciliation import reconcile_account

    start = time.perf_counter()
    run = reconcile_account(account_id=account.pk, trigger="bench")
    seconds = time.perf_counter() - start
    run = ReconciliationRun.objects.get(pk=run.pk)
    result = {
        "run": label,
        "status": run.status,
        "seconds": round(seconds, 3),
        "requests": run.requests_made,
        "weight": run.weight_used,
        "orders_checked": run.orders_checked,
        "fills_repaired": run.fills_repaired,
        "orders_resolved": run.orders_resolved,
        "external_orders": run.external_orders,
        "errors": run.errors,
    }
    print(
        f"{label:<34} {result['status']:<9} {seconds:6.2f} s  requests {run.requests_made:>4}  "
        f"weight {run.weight_used:>5}  checked {run.orders_checked}  repaired {run.fills_repaired}  "
        f"resolved {run.orders_resolved}  errors {run.errors or 'none'}",
        flush=True,
    )
    if run.status != ReconciliationRun.Status.SUCCEEDED:
        raise AssertionError(f"{label}: the run did not succeed: {run.errors}")
    return result


def venue_calls_only(adapter: ExchangeAdapter, names: list[str]) -> dict[str, Any]:
    """The steady-state run's requests alone: openOrders and myTrades (from the cursor) per
    symbol, then account."""
    from apps.execution.models import ReconciliationCursor

    cursors = dict(ReconciliationCursor.objects.values_list("symbol", "last_trade_id"))
    requests_before = getattr(adapter, "requests_sent", 0)
    weight_before = getattr(adapter, "weight_spent", 0)
    start = time.perf_counter()
    for name in names:
        adapter.open_orders(symbol=name)
        adapter.trades_since(symbol=name, from_trade_id=cursors.get(name, -1) + 1)
    adapter.balances()
    seconds = time.perf_counter() - start
    result = {
        "run": "baseline: venue calls only",
        "seconds": round(seconds, 3),
        "requests": getattr(adapter, "requests_sent", 0) - requests_before,
        "weight": getattr(adapter, "weight_spent", 0) - weight_before,
    }
    print(
        f"{result['run']:<34} {'':<9} {seconds:6.2f} s  requests {result['requests']:>4}  "
        f"weight {result['weight']:>5}",
        flush=True,
    )
    return result


def verify(account: ExchangeAccount, server: SimulatorServer, open_expected: int) -> None:
    from apps.core.domain import OrderStatus
    from apps.execution.models import Fill, Order

    ledger = {int(str(t["id"])) for t in server.trades(API_KEY)}
    ours = set(Fill.objects.filter(account=account).values_list("exchange_fill_id", flat=True))
    if ledger != ours:
        raise AssertionError(f"fills differ from the venue's ledger: {len(ledger)} there, {len(ours)} here")
    still_open = Order.objects.filter(account=account, status=OrderStatus.SUBMITTED).count()
    if still_open != open_expected:
        raise AssertionError(f"{still_open} orders open locally, expected {open_expected}")


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument(
        "--fill-symbols", type=int, default=5, help="symbols whose orders fill before the repair run"
    )
    args = parser.parse_args()

    info = benchlib.start()

    from django.test import override_settings

    from apps.execution import venue_factories
    from apps.execution.venues import adapter_for

    names = symbols(args.symbols)
    print(f"reconciliation: {args.orders} open orders over {len(names)} symbols on the simulator")
    reset_tables()
    server = start_simulator(names)
    runs: list[dict[str, Any]] = []
    try:
        venue_factories._adapters.clear()
        with override_settings(SIMULATOR_BASE_URL=server.base_url, SIMULATOR_WS_API_URL=server.ws_api_url):
            account = create_account()
            placed_in = place_orders(account, names, args.orders)
            print(f"setup: {args.orders} orders placed through the live path in {placed_in:.1f} s")
            runs.append(run_once(account, "first run (no trade cursor)"))
            runs.append(run_once(account, "steady state (all in sync)"))
            runs.append(venue_calls_only(adapter_for(account), names))
            filled_symbols = names[: args.fill_symbols]
            for name in filled_symbols:
                server.set_price(name, LIMIT_PRICE - 1)
            filled = sum(1 for i in range(args.orders) if names[i % len(names)] in filled_symbols)
            runs.append(run_once(account, f"repair ({filled} missed fills)"))
            verify(account, server, args.orders - filled)
            adapter = adapter_for(account)
            budget = getattr(adapter, "budget", None)
            usable = int(budget.limit * (1 - budget.safety_margin)) if budget else None
        venue_factories._adapters.clear()
    finally:
        server.stop()
        benchlib.flush_redis()
    print(
        f"weight budget: {usable} usable per minute (limit {WEIGHT_LIMIT_PER_MINUTE}, the adapter's "
        f"safety margin kept); the heaviest run used {max(r['weight'] for r in runs)}"
    )
    benchlib.write_json(
        args.json,
        {
            "benchmark": "reconciliation",
            "machine": info,
            "orders": args.orders,
            "symbols": len(names),
            "placed_in_seconds": round(placed_in, 2),
            "weight_limit_per_minute": WEIGHT_LIMIT_PER_MINUTE,
            "weight_usable_per_minute": usable,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
