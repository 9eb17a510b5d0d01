"""Latency of `apps.risk.services.validate_order`, from the approval cache and fresh.

Setup: one account with a BTCUSDT position (fills applied through `apply_fill` and relayed to
the portfolio's consumer), a fresh mark, every limit set account-wide and for BTCUSDT (high
enough that the order is approved, so every check runs to the end), and `--open-orders`
SUBMITTED buy orders over 20 symbols (open orders are read by the reservation checks).

Measured, one process, `--calls` calls each, latency per call (p50, p95, p99):
  - baseline: a Redis GET through the same client the approval cache uses, and a one-table
    ORM read (the account's limits rows, the first statement of every check);
  - "cached": the same order validated again and again (`use_cache=True`). Since the limits
    set here read the account's open orders, position and exposure, risk never caches their
    verdict (docs/RISK.md): this row now measures fresh checks too, with the same order (the
    per-call outcome printed says "fresh"); only state-free verdicts (order notional alone,
    sells under buy-only limits) come from Redis;
  - uncached: `use_cache=False`, a fresh check every call (quantities vary).
Run once per open-order count (`--open-orders 0,100,1000`).

    .venv/bin/python bench/validate_order.py [--calls 2000] [--open-orders 0,100,1000]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from apps.execution.models import ExchangeAccount

SYMBOL = benchlib.SYMBOL
OTHER_SYMBOLS = [f"BENCH{i}USDT" for i in range(1, 20)]
PRICE = Decimal("30000.00")
ORDER_QTY = Decimal("0.00100")


def reset_tables() -> None:
    from apps.execution.models import Fill, Order, OrderEvent, OutboxEvent
    from apps.portfolio.models import Position
    from apps.risk.models import RiskLimits

    benchlib.truncate(
        Fill._meta.db_table,
        OrderEvent._meta.db_table,
        Order._meta.db_table,
        OutboxEvent._meta.db_table,
        Position._meta.db_table,
        RiskLimits._meta.db_table,
    )


def build_position(account: ExchangeAccount) -> None:
    """Buy 0.5 BTC through apply_fill; the relay hands the fills to the portfolio."""
    from django.utils import timezone

    from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce
    from apps.execution.models import Order
    from apps.execution.services import FillReport, apply_fill, relay_outbox

    order = Order.objects.create(
        account=account,
        symbol=SYMBOL,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=Decimal("0.5"),
        price=PRICE,
        client_order_id="bench-risk-position",
        exchange_order_id="bench-risk-position",
        status=OrderStatus.SUBMITTED,
        submitted_at=timezone.now(),
    )
    for i in range(5):
        apply_fill(
            report=FillReport(
                order_id=order.pk,
                exchange_fill_id=9_000_000 + i,
                price=PRICE,
                quantity=Decimal("0.1"),
                quote_quantity=PRICE * Decimal("0.1"),
                executed_at=timezone.now(),
                commission=Decimal("0.0001"),
                commission_asset="BTC",
            )
        )
    relay_outbox()


def set_open_orders(account: ExchangeAccount, count: int) -> None:
    from django.utils import timezone

    from apps.core.domain import OrderStatus, OrderType, Side, TimeInForce
    from apps.execution.models import Order

    Order.objects.filter(account=account, client_order_id__startswith="bench-open-").delete()
    symbols = [SYMBOL, *OTHER_SYMBOLS]
    now = timezone.now()
    Order.objects.bulk_create(
        [
            Order(
                account=account,
                symbol=symbols[i % len(symbols)],
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                time_in_force=TimeInForce.GTC,
                quantity=Decimal("0.001"),
                price=Decimal("100.00"),
                client_order_id=f"bench-open-{i}",
                exchange_order_id=f"bench-open-{i}",
                status=OrderStatus.SUBMITTED,
                submitted_at=now,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    benchlib.vacuum_analyze(Order._meta.db_table)


def set_limits(account: ExchangeAccount) -> None:
    from apps.risk.services.limits import set_limits as write

    big = Decimal("1000000000")
    write(
        account_id=account.pk,
        symbol="",
        expected_version=0,
        values={
            "max_position_size": big,
            "max_symbol_exposure": big,
            "max_total_exposure": big,
            "max_order_notional": big,
            "max_open_orders": 1_000_000,
            "max_daily_loss": big,
        },
        actor="bench",
        replace=True,
    )
    write(
        account_id=account.pk,
        symbol=SYMBOL,
        expected_version=0,
        values={
            "max_position_size": big,
            "max_symbol_exposure": big,
            "max_order_notional": big,
            "max_open_orders": 1_000_000,
        },
        actor="bench",
        replace=False,
    )


def record_mark() -> None:
    from django.utils import timezone

    from apps.portfolio.services.marks import record_mark as write

    write(symbol=SYMBOL, price=PRICE, as_of=timezone.now(), source="bench")


# --- the operations measured -----------------------------------------------------------------------


def validator(account_id: int, *, use_cache: bool) -> Callable[[int], str]:
    from apps.risk.services.validation import validate_order

    def call(i: int) -> str:
        quantity = ORDER_QTY if use_cache else ORDER_QTY + Decimal(i % 1000) * Decimal("0.00001")
        approval = validate_order(
            account_id=account_id,
            symbol=SYMBOL,
            side="BUY",
            order_type="LIMIT",
            quantity=quantity,
            price=PRICE,
            use_cache=use_cache,
        )
        if not approval.approved:
            raise AssertionError(f"the benchmark order was refused: {approval.reasons}")
        return "cached" if approval.cached else "fresh"

    return call


def redis_get_op() -> Callable[[int], str]:
    from apps.risk.services import redis_keys

    client = redis_keys.client()
    key = redis_keys.key("bench:missing")

    def call(_: int) -> str:
        client.get(key)
        return "redis GET"

    return call


def orm_read_op(account_id: int) -> Callable[[int], str]:
    from apps.risk.models import RiskLimits

    def call(_: int) -> str:
        list(RiskLimits.objects.filter(account_id=account_id, symbol__in=["", SYMBOL]).order_by("symbol"))
        return "ORM read"

    return call


def timed(name: str, op: Callable[[int], str], calls: int) -> benchlib.ScenarioResult:
    """`calls` calls of `op` in this process after 50 unmeasured ones, on a quiet machine."""

    def measure() -> benchlib.ScenarioResult:
        for i in range(50):
            op(i)
        tally = benchlib.per_item(op, list(range(calls)))
        start = time.perf_counter()
        result = tally()
        seconds = time.perf_counter() - start
        return benchlib.ScenarioResult(
            name=name,
            processes=1,
            items=result.items,
            seconds=seconds,
            outcomes=dict(result.outcomes),
            latency_ms=benchlib.latency_summary_ms(result.latencies),
            latency_of="call",
        )

    result, other = benchlib.measure_quietly(name, measure)
    result.other_cpu_pct = other
    print(f"{result.line()}", flush=True)
    return result


def statements(op: Callable[[int], str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        op(10_001)
    return len(ctx.captured_queries)


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--open-orders", default="0,100,1000", help="comma-separated open-order counts")
    args = parser.parse_args()
    counts = [int(c) for c in args.open_orders.split(",")]

    env = {"RISK_APPROVAL_TTL_SECONDS": "3600"}  # cached verdicts must outlive the run
    benchlib.ensure_database(benchlib.bench_env(**env))
    benchlib.setup_django(**env)
    benchlib.warn_if_redis_in_use()
    info = benchlib.machine()
    benchlib.print_machine(info)
    print(f"validate_order: {args.calls} calls per scenario; open orders {counts}")
    runs: list[dict[str, Any]] = []
    try:
        account = benchlib.trading_account("bench-risk")
        reset_tables()
        record_mark()
        build_position(account)
        set_limits(account)
        for count in counts:
            set_open_orders(account, count)
            print(f"--- {count} open orders")
            cached_op = validator(account.pk, use_cache=True)
            fresh_op = validator(account.pk, use_cache=False)
            scenarios = [
                timed("baseline: Redis GET", redis_get_op(), args.calls),
                timed("baseline: ORM read of limits", orm_read_op(account.pk), args.calls),
                timed("validate_order cached", cached_op, args.calls),
                timed("validate_order uncached", fresh_op, args.calls),
            ]
            sql = {"cached": statements(cached_op), "uncached": statements(fresh_op)}
            print(f"SQL statements per call: {sql}")
            runs.append(
                {"open_orders": count, "sql_per_call": sql, "scenarios": [s.as_dict() for s in scenarios]}
            )
    finally:
        benchlib.flush_redis()
    benchlib.write_json(
        args.json, {"benchmark": "validate_order", "machine": info, "calls": args.calls, "runs": runs}
    )


if __name__ == "__main__":
    main()
