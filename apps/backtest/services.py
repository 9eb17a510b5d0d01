"""Backtest writes: queue a run, execute it (load candles, simulate, store results in bulk).

`create_backtest` validates everything that can be checked before the run (config, symbol
filters, range, fees) so a queued run fails only for reasons found in the data. The task
(`tasks.run_backtest`) only calls `execute_backtest`; the command calls both directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from apps.candles import intervals
from apps.candles.domain import CandleArrays
from apps.candles.selectors import load_arrays, load_recent_arrays
from apps.core.domain import SymbolFilters
from apps.core.errors import ErrorCode, ValidationFailed
from apps.exchange.matching import FeeSchedule
from apps.exchange.selectors import get_symbol_filters
from apps.strategy.configs import StrategyKind, config_to_json, parse_config
from apps.strategy.selectors import get_strategy_for

from . import engine
from .engine import fingerprint
from .engine.runner import BacktestOutcome, BacktestSpec, warmup_candles
from .models import BacktestEquityPoint, BacktestFill, BacktestOrder, BacktestRun, BacktestStatus

DEFAULT_EXCHANGE = "binance"
MAX_FEE = Decimal("0.1")
MAX_SLIPPAGE_BPS = Decimal(1000)
#: Progress is written to the run at most this often (seconds).
PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    symbol: str
    interval: str
    start: datetime
    end: datetime
    kind: str | None = None
    config: dict[str, Any] | None = None
    strategy_id: int | None = None
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    initial_balance: Decimal = Decimal(10000)
    exchange: str = DEFAULT_EXCHANGE


def filters_to_json(filters: SymbolFilters) -> dict[str, str]:
    return {k: str(v) for k, v in asdict(filters).items()}


def filters_from_json(raw: dict[str, str]) -> SymbolFilters:
    text = {"symbol", "base_asset", "quote_asset"}
    return SymbolFilters(**{k: (v if k in text else Decimal(v)) for k, v in raw.items()})  # type: ignore[arg-type]


def _invalid(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, field=field)


def _check_numbers(request: BacktestRequest) -> None:
    for name in ("maker_fee", "taker_fee"):
        value = getattr(request, name)
        if not (0 <= value <= MAX_FEE):
            raise _invalid(f"{name} must be between 0 and {MAX_FEE} (a fraction: 0.001 = 0.1 %).", name)
    if not (0 <= request.slippage_bps <= MAX_SLIPPAGE_BPS):
        raise _invalid(f"slippage_bps must be between 0 and {MAX_SLIPPAGE_BPS}.", "slippage_bps")
    if request.initial_balance <= 0:
        raise _invalid("initial_balance must be positive.", "initial_balance")
    if not intervals.is_valid(request.interval):
        raise _invalid(f"unknown interval {request.interval!r}.", "interval")
    if request.end <= request.start:
        raise _invalid("end must be after start.", "end")


def _resolve_config(owner: User, request: BacktestRequest) -> tuple[str, dict[str, Any]]:
    """(kind, config JSON) from the request, or from the owner's strategy when one is named."""
    if request.strategy_id is not None:
        strategy = get_strategy_for(owner, request.strategy_id)
        kind, raw = strategy.kind, request.config if request.config is not None else strategy.config
    else:
        if request.kind is None or request.config is None:
            raise _invalid("give a strategy, or a kind and a config.", "strategy" if request.kind else "kind")
        kind, raw = request.kind, request.config
    try:
        parsed_kind = StrategyKind(kind)
    except ValueError:
        raise _invalid(f"unknown kind {kind!r}.", "kind") from None
    config = parse_config(parsed_kind, raw)  # ConfigInvalid (400 invalid_config) with every error
    return str(parsed_kind), config_to_json(config)


def create_backtest(*, owner: User, request: BacktestRequest, enqueue: bool = True) -> BacktestRun:
    """Validate and store a QUEUED run; queue its task (on commit) unless `enqueue` is False."""
    _check_numbers(request)
    kind, config = _resolve_config(owner, request)
    filters = get_symbol_filters(exchange=request.exchange, symbol=request.symbol)
    if filters is None:
        raise ValidationFailed(
            f"{request.symbol} is not a trading symbol of {request.exchange}.",
            code=ErrorCode.UNKNOWN_SYMBOL,
            field="symbol",
        )
    with transaction.atomic():
        run = BacktestRun.objects.create(
            owner=owner,
            strategy_id=request.strategy_id,
            kind=kind,
            config=config,
            symbol=request.symbol,
            interval=request.interval,
            start=request.start,
            end=request.end,
            filters=filters_to_json(filters),
            maker_fee=request.maker_fee,
            taker_fee=request.taker_fee,
            slippage_bps=request.slippage_bps,
            initial_balance=request.initial_balance,
        )
        run.config_hash = fingerprint.config_hash(_config_payload(run))
        run.save(update_fields=["config_hash"])
        if enqueue:
            from .tasks import run_backtest  # noqa: PLC0415 - tasks imports this module

            run_id = run.pk
            transaction.on_commit(lambda: run_backtest.delay(run_id))
    return run


def _config_payload(run: BacktestRun) -> dict[str, Any]:
    return {
        "kind": run.kind,
        "config": run.config,
        "symbol": run.symbol,
        "interval": run.interval,
        "start": intervals.to_ms(run.start),
        "end": intervals.to_ms(run.end),
        "filters": run.filters,
        "maker_fee": Decimal(run.maker_fee),
        "taker_fee": Decimal(run.taker_fee),
        "slippage_bps": Decimal(run.slippage_bps),
        "initial_balance": Decimal(run.initial_balance),
    }


def spec_of(run: BacktestRun) -> BacktestSpec:
    kind = StrategyKind(run.kind)
    return BacktestSpec(
        kind=kind,
        config=parse_config(kind, run.config),
        filters=filters_from_json(run.filters),
        interval=run.interval,
        fees=FeeSchedule(maker=Decimal(run.maker_fee), taker=Decimal(run.taker_fee)),
        slippage_bps=Decimal(run.slippage_bps),
        initial_quote=Decimal(run.initial_balance),
    )


ProgressHook = Callable[[int, int], None]


def execute_backtest(*, run_id: int, progress: ProgressHook | None = None) -> BacktestRun:
    """Run a QUEUED (or re-run a FAILED) backtest to SUCCEEDED or FAILED.

    A run already RUNNING or SUCCEEDED is returned as it is (a redelivered task is a no-op).
    """
    return execute_backtest_with_outcome(run_id=run_id, progress=progress)[0]


def execute_backtest_with_outcome(
    *, run_id: int, progress: ProgressHook | None = None
) -> tuple[BacktestRun, BacktestOutcome | None]:
    """`execute_backtest`, also returning the in-memory outcome (per-candle equity for a chart)."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (BacktestStatus.QUEUED, BacktestStatus.FAILED):
            return run, None
        run.status = BacktestStatus.RUNNING
        run.started_at = timezone.now()
        run.error = ""
        run.progress = 0.0
        run.save(update_fields=["status", "started_at", "error", "progress"])
    outcome = None
    try:
        outcome = _execute(run, progress)
    except Exception as exc:  # noqa: BLE001 - any failure is the run's result, reported on it
        BacktestRun.objects.filter(pk=run.pk).update(
            status=BacktestStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run, outcome


def _execute(run: BacktestRun, progress: ProgressHook | None) -> BacktestOutcome:
    started = time.perf_counter()
    spec = spec_of(run)
    traded = load_arrays(symbol=run.symbol, interval=run.interval, start=run.start, end=run.end)
    if len(traded) == 0:
        raise ValidationFailed("no candles in the range.", field="start")
    candles, warmup = traded, warmup_candles(spec)
    if warmup:
        history = load_recent_arrays(symbol=run.symbol, interval=run.interval, count=warmup, now=run.start)
        warmup = len(history)
        candles = _concat(history, traded)
    loaded = time.perf_counter()
    data_hash = fingerprint.data_hash(candles)
    outcome = engine.simulate(spec, candles, _progress_writer(run.pk, progress), warmup=warmup)
    simulated = time.perf_counter()
    with transaction.atomic():
        store_outcome(run.pk, outcome)
        stored = time.perf_counter()
        BacktestRun.objects.filter(pk=run.pk).update(
            status=BacktestStatus.SUCCEEDED,
            progress=1.0,
            finished_at=timezone.now(),
            candle_count=len(traded),
            data_hash=data_hash,
            result_digest=outcome.result_digest,
            metrics=outcome.metrics.to_json(),
            timings={
                "load_s": round(loaded - started, 4),
                "simulate_s": round(simulated - loaded, 4),
                "store_s": round(stored - simulated, 4),
                "total_s": round(stored - started, 4),
                "steps": outcome.steps,
                "candles": len(traded),
                "warmup_candles": warmup,
            },
        )
    return outcome


def _concat(first: CandleArrays, second: CandleArrays) -> CandleArrays:
    names = ("open_time", "open", "high", "low", "close", "volume")
    return CandleArrays(*(np.concatenate((getattr(first, n), getattr(second, n))) for n in names))


def _progress_writer(run_id: int, hook: ProgressHook | None) -> ProgressHook:
    last = [0.0]

    def report(done: int, total: int) -> None:
        if hook is not None:
            hook(done, total)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            BacktestRun.objects.filter(pk=run_id).update(progress=done / total if total else 1.0)

    return report


def store_outcome(run_id: int, outcome: BacktestOutcome) -> None:
    """Orders, refused intents, fills and the equity curve, each table in one COPY FROM STDIN."""
    BacktestOrder.objects.filter(run_id=run_id).delete()
    BacktestFill.objects.filter(run_id=run_id).delete()
    BacktestEquityPoint.objects.filter(run_id=run_id).delete()
    order_rows: list[Sequence[object]] = [
        (
            run_id,
            o.order_id,
            o.client_order_id,
            outcome.tags.get(o.client_order_id, ""),
            str(o.side),
            str(o.order_type),
            o.quantity,
            o.price,
            str(o.status),
            o.executed_quantity,
            o.cumulative_quote,
            intervals.from_ms(o.created_ms),
            intervals.from_ms(o.updated_ms),
            "",
        )
        for o in outcome.orders
    ]
    order_rows.extend(
        (
            run_id,
            None,
            r.intent.client_order_id,
            r.intent.tag,
            str(r.intent.side),
            str(r.intent.order_type),
            r.intent.quantity,
            r.intent.price,
            "REJECTED",
            Decimal(0),
            Decimal(0),
            intervals.from_ms(r.time_ms),
            intervals.from_ms(r.time_ms),
            r.reason[:120],
        )
        for r in outcome.rejections
    )
    _copy(BacktestOrder, _ORDER_COLUMNS, order_rows)
    fill_rows = (
        (
            run_id,
            t.trade_id,
            t.order_id,
            t.client_order_id,
            str(t.side),
            t.price,
            t.quantity,
            t.quote_quantity,
            t.commission,
            t.commission_asset,
            t.is_maker,
            intervals.from_ms(t.time_ms),
        )
        for t in outcome.trades
    )
    _copy(BacktestFill, _FILL_COLUMNS, fill_rows)
    equity_rows = ((run_id, p.time, p.equity, p.base, p.quote) for p in outcome.equity.points)
    _copy(BacktestEquityPoint, _EQUITY_COLUMNS, equity_rows)


_ORDER_COLUMNS = (
    "run_id",
    "order_no",
    "client_order_id",
    "tag",
    "side",
    "order_type",
    "quantity",
    "price",
    "status",
    "executed_quantity",
    "cumulative_quote",
    "created_at",
    "updated_at",
    "reject_reason",
)
_FILL_COLUMNS = (
    "run_id",
    "trade_no",
    "order_no",
    "client_order_id",
    "side",
    "price",
    "quantity",
    "quote_quantity",
    "commission",
    "commission_asset",
    "is_maker",
    "executed_at",
)
_EQUITY_COLUMNS = ("run_id", "time", "equity", "base_balance", "quote_balance")


def _copy(model: Any, columns: tuple[str, ...], rows: Iterable[Sequence[object]]) -> None:
    """COPY FROM STDIN (text format; psycopg adapts Decimal, datetime, bool, None)."""
    table = model._meta.db_table
    query = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(query) as copy:
        for row in rows:
            copy.write_row(row)
