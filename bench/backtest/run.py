# ruff: noqa: PLC0415 - Django is set up per process (each measurement runs in its own), so imports follow it
"""Backtest benchmark: 1,000,000 one-minute synthetic candles, SMA-cross Swing, DCA and Grid,
side by side with backtrader and vectorbt on the same candles in the same run.

    bench/backtest/run                         # makes the peer venv if needed, then this
    .venv/bin/python bench/backtest/run.py [--count 1000000] [--no-peers] [--json out.json]

Figures per engine and strategy: wall time, candles per second, peak memory (the measuring
process's maximum resident set, interpreter and Django included, each measurement in its own
fresh process), trade count (round trips / sell orders), steps (candles that needed Python
work). "tradingbot" rows time the engine's first call in a fresh process; the "(warmed)" row
first runs it once untimed on the first 2,000 candles in the measuring process, the protocol
the vectorbt row follows (its numba kernels compiled on 2,000 candles first), then times
`--repeat` runs (5) and reports their median, as the vectorbt row does (one run of either
moves by up to ±50% on this shared machine); both rows are printed with their ratio to
vectorbt, and the individual runs. "end to end" is `execute_backtest` on a stored run:
binary-COPY load of the candles from PostgreSQL + simulation + results written (COPY) + metrics.

Data: a dedicated database (BACKTEST_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/tb_backtest_bench; created and migrated here) holding the
project's seeded synthetic series (apps.candles.synthetic, seed 0), inserted once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER_PYTHON = HERE / ".venv-bench" / "bin" / "python"
DATABASE_URL = os.environ.get(
    "BACKTEST_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tb_backtest_bench"
)
START = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL, INTERVAL = "BTCUSDT", "1m"

CONFIGS: dict[str, dict[str, Any]] = {
    "SWING": {
        "entry": "crosses_above(sma(close, 20), sma(close, 50))",
        "exit": "crosses_below(sma(close, 20), sma(close, 50))",
        "sizing_mode": "quote",
        "sizing_value": "1000",
    },
    "DCA": {
        "base_order_quote": "100",
        "safety_order_quote": "100",
        "max_safety_orders": 5,
        "max_active_safety_orders": 2,
        "price_deviation_pct": "1",
        "step_scale": "1.2",
        "volume_scale": "1.5",
        "take_profit": [{"pct": "1", "close_fraction": "1"}],
    },
    "GRID": {
        "lower_price": "20000",
        "upper_price": "140000",
        "levels": 121,
        "spacing": "geometric",
        "quantity_per_level": "0.001",
    },
}
INITIAL = Decimal(10_000_000)
#: The untimed warm-up run's length for "(warmed)" rows: what peers.py gives vectorbt.
WARMUP_CANDLES = 2_000


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _maxrss_mib() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: on Linux that
    survives fork + exec, so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ensure_database() -> None:
    import psycopg

    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def _filters() -> Any:
    from apps.core.domain import SymbolFilters

    return SymbolFilters(
        symbol=SYMBOL,
        base_asset="BTC",
        quote_asset="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        max_qty=Decimal("9000"),
        min_notional=Decimal("5"),
    )


def prepare(count: int) -> Path:
    """Database, instrument and candles in place; the candles also written to an .npz file."""
    _ensure_database()
    _setup_django()
    import numpy as np
    from django.core.management import call_command

    from apps.candles.selectors import load_arrays, series_summary
    from apps.candles.services import delete_series, upsert_candles
    from apps.candles.synthetic import synthetic_candles
    from apps.exchange.services import upsert_instrument

    call_command("migrate", verbosity=0)
    upsert_instrument(exchange="binance", filters=_filters())
    end = START + timedelta(minutes=count)
    if series_summary(symbol=SYMBOL, interval=INTERVAL).count != count:
        print(f"inserting {count:,} synthetic candles (once) ...", flush=True)
        delete_series(symbol=SYMBOL, interval=INTERVAL)
        upsert_candles(
            symbol=SYMBOL,
            interval=INTERVAL,
            candles=synthetic_candles(interval=INTERVAL, start=START, count=count),
        )
    arrays = load_arrays(symbol=SYMBOL, interval=INTERVAL, start=START, end=end)
    path = Path(tempfile.gettempdir()) / f"backtest-bench-{count}.npz"
    np.savez(path, **{k: getattr(arrays, k) for k in ("open_time", "open", "high", "low", "close", "volume")})
    return path


def measure_engine(
    kind: str, data: str, *, reference: bool = False, warm: bool = False, repeat: int = 1
) -> dict[str, Any]:
    """The simulation alone, on arrays already in memory (the engine's candles per second).
    `reference`: the general path even where Swing's batched path applies (same digest).
    `warm`: first one untimed run on the first WARMUP_CANDLES candles in this process, the
    protocol the vectorbt measurement follows (peers.py: numba's kernels compiled first);
    without it the timed run is the engine's very first call in a fresh process. `repeat`
    (warmed only): that many timed runs, the median reported (as for vectorbt), every digest
    checked equal."""
    _setup_django()
    import numpy as np

    from apps.backtest.engine import BacktestSpec, simulate
    from apps.candles.domain import CandleArrays
    from apps.exchange.matching import FeeSchedule
    from apps.strategy.configs import StrategyKind, parse_config

    z = np.load(data)
    arrays = CandleArrays(**{k: z[k] for k in ("open_time", "open", "high", "low", "close", "volume")})
    spec = BacktestSpec(
        kind=StrategyKind(kind),
        config=parse_config(StrategyKind(kind), CONFIGS[kind]),
        filters=_filters(),
        interval=INTERVAL,
        fees=FeeSchedule(maker=Decimal("0.001"), taker=Decimal("0.001")),
        slippage_bps=Decimal(0),
        initial_quote=INITIAL,
    )
    if warm:
        simulate(spec, arrays.slice(0, WARMUP_CANDLES), reference=reference)
    before = _maxrss_mib()
    walls, digests = [], set()
    for _ in range(repeat if warm else 1):
        started = time.perf_counter()
        outcome = simulate(spec, arrays, reference=reference)
        walls.append(time.perf_counter() - started)
        digests.add(outcome.result_digest)
    if len(digests) != 1:
        raise SystemExit(f"repeated runs gave different digests: {sorted(digests)}")
    engine = "tradingbot (general path)" if reference else "tradingbot"
    return {
        "engine": f"{engine} (warmed)" if warm else engine,
        "strategy": kind,
        "wall_s": statistics.median(walls),
        "walls_s": walls,
        "candles": len(arrays),
        "trades": outcome.metrics.trades,
        "fills": len(outcome.trades),
        "steps": outcome.steps,
        "maxrss_mib": _maxrss_mib(),
        "rss_before_mib": before,
        "digest": outcome.result_digest,
    }


def measure_end_to_end(kind: str, count: int) -> dict[str, Any]:
    """Queue-less run of the service: load from PostgreSQL, simulate, store, metrics."""
    _setup_django()
    from django.contrib.auth import get_user_model

    from apps.backtest.services import BacktestRequest, create_backtest, execute_backtest

    user, _ = get_user_model().objects.get_or_create(username="backtest-bench")
    request = BacktestRequest(
        kind=kind,
        config=CONFIGS[kind],
        symbol=SYMBOL,
        interval=INTERVAL,
        start=START,
        end=START + timedelta(minutes=count),
        initial_balance=INITIAL,
    )
    run = create_backtest(owner=user, request=request, enqueue=False)
    before = _maxrss_mib()
    started = time.perf_counter()
    run = execute_backtest(run_id=run.pk)
    wall = time.perf_counter() - started
    if run.status != "SUCCEEDED":
        raise SystemExit(f"run {run.pk} {run.status}: {run.error}")
    return {
        "engine": "tradingbot end to end",
        "strategy": kind,
        "wall_s": wall,
        "candles": run.candle_count,
        "trades": run.metrics["trades"],
        "fills": run.metrics["fills"],
        "timings": run.timings,
        "maxrss_mib": _maxrss_mib(),
        "rss_before_mib": before,
        "digest": run.result_digest,
    }


def _child(args: list[str], python: str = sys.executable) -> dict[str, Any]:
    result = subprocess.run([python, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:]}
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--engine-only", metavar="KIND", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed runs of the warmed Swing row and of vectorbt (the median is reported)",
    )
    parser.add_argument("--end-to-end", metavar="KIND", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:
        measured = measure_engine(
            args.engine_only, args.data, reference=args.reference, warm=args.warm, repeat=args.repeat
        )
        print(json.dumps(measured))
        return 0
    if args.end_to_end:
        print(json.dumps(measure_end_to_end(args.end_to_end, args.count)))
        return 0

    data = prepare(args.count)
    rows: list[dict[str, Any]] = []
    me = str(Path(__file__).resolve())
    for kind in CONFIGS:
        rows.append(_child([me, "--engine-only", kind, "--data", str(data)]) | {"strategy": kind})
        if kind == "SWING":  # warmed up as vectorbt is; the reference on the same candles
            warmed = _child(
                [me, "--engine-only", kind, "--data", str(data), "--warm", "--repeat", str(args.repeat)]
            )
            rows.append(warmed | {"strategy": kind})
            rows.append(
                _child([me, "--engine-only", kind, "--data", str(data), "--reference"]) | {"strategy": kind}
            )
        rows.append(_child([me, "--end-to-end", kind, "--count", str(args.count)]) | {"strategy": kind})
    if not args.no_peers:
        if PEER_PYTHON.exists():
            for engine in ("vectorbt", "backtrader"):
                repeat = ["--repeat", str(args.repeat)] if engine == "vectorbt" else []
                peer = _child(
                    [str(HERE / "peers.py"), "bench", str(data), "--engine", engine, *repeat],
                    python=str(PEER_PYTHON),
                )
                rows.append(peer | {"strategy": "SWING", "engine": engine})
        else:
            print(f"(no peer venv at {PEER_PYTHON}: run bench/backtest/run to compare with peers)")
    _print(rows)
    swing = {r.get("engine"): r.get("digest") for r in rows if r["strategy"] == "SWING" and "digest" in r}
    same = len(set(swing.values())) == 1
    print(
        f"Swing digests (batched fresh and warmed, general path, end to end): "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    _print_ratios(rows)
    if args.json:
        args.json.write_text(json.dumps({"count": args.count, "rows": rows}, indent=2, default=str))
    return 0 if same and all("error" not in r for r in rows) else 1


def _print_ratios(rows: list[dict[str, Any]]) -> None:
    """Our Swing wall time over vectorbt's (the issue's target: at most 2x), both protocols."""
    wall = {r.get("engine"): r["wall_s"] for r in rows if r["strategy"] == "SWING" and "wall_s" in r}
    peer = wall.get("vectorbt")
    if not peer:
        return
    for engine, label in (
        ("tradingbot", "fresh process, first call"),
        ("tradingbot (warmed)", "warmed up, median of both"),
    ):
        if engine in wall:
            print(f"Swing / vectorbt ({label}): {wall[engine] / peer:.2f}x")
    runs = {r.get("engine"): r["walls_s"] for r in rows if r["strategy"] == "SWING" and "walls_s" in r}
    for engine in ("tradingbot (warmed)", "vectorbt"):
        if len(runs.get(engine, [])) > 1:
            print(f"  {engine} runs: {', '.join(f'{w:.3f}' for w in runs[engine])} s")


def _print(rows: list[dict[str, Any]]) -> None:
    head = f"{'engine':<24} {'strategy':<6} {'wall s':>8} {'candles/s':>12} {'peak MiB':>9}"
    print(f"{head} {'trades':>7} {'steps':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r.get('engine', '?'):<24} {r['strategy']:<6} error: {r['error']}")
            continue
        rate = r["candles"] / r["wall_s"] if r["wall_s"] else float("inf")
        line = (
            f"{r['engine']:<24} {r['strategy']:<6} {r['wall_s']:>8.3f} {rate:>12,.0f} {r['maxrss_mib']:>9.0f}"
        )
        print(f"{line} {r['trades']:>7} {r.get('steps', ''):>8}")
        if "timings" in r:
            t = r["timings"]
            print(
                f"{'':<24} {'':<6} load {t['load_s']} s, simulate {t['simulate_s']} s, store {t['store_s']} s"
            )


if __name__ == "__main__":
    sys.exit(main())
