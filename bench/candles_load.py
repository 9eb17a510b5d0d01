"""Candles: bulk upsert into PostgreSQL, then the numpy loader reading them back.

Setup: the `BENCHUSDT 1m` series is deleted (only that series: other tables and series in the
benchmark database are left alone). Then:
  1. upsert: `--candles` synthetic 1m candles (seeded) written with
     `apps.candles.services.upsert_candles` in chunks of `--chunk` (one transaction each);
     generating the candles is timed separately and not counted. Then the same chunks again
     (the idempotent re-import: nothing changes, nothing is rewritten).
  2. load: `apps.candles.selectors.load_arrays` over the whole series (binary COPY into
     numpy, no model instances), `--repeats` times; the series is ANALYZEd first, as
     `import_candles` does after a large import.
  3. baseline, same run: the naive way on a `--baseline` subset: the ORM's values_list of the
     six columns, then float arrays built from the Decimals.
Checks: every candle written once, the re-import wrote nothing, the loader returned every
candle, and on the baseline subset its arrays equal the ORM's values exactly.

    .venv/bin/python bench/candles_load.py [--candles 1000000] [--chunk 100000] \
        [--baseline 100000] [--repeats 5] [--json F]
"""

# Django app modules can be imported only after benchlib.setup_django(): imports are local.
# ruff: noqa: PLC0415

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import benchlib
import numpy as np

SYMBOL, INTERVAL = "BENCHUSDT", "1m"
START = datetime(2020, 1, 1, tzinfo=UTC)
TARGET_LOAD_PER_SECOND = 500_000


def upsert(candles: int, chunk: int) -> dict[str, Any]:
    from apps.candles import services
    from apps.candles.synthetic import SyntheticParams, synthetic_candles

    params = SyntheticParams(seed=42)
    generate = upsert_s = reimport_s = 0.0
    written = rewritten = 0
    for offset in range(0, candles, chunk):
        size = min(chunk, candles - offset)
        t0 = time.perf_counter()
        # Each chunk continues the same walk: a longer series extends a shorter one.
        batch = list(
            synthetic_candles(
                interval=INTERVAL, start=START + timedelta(minutes=offset), count=size, params=params
            )
        )
        t1 = time.perf_counter()
        written += services.upsert_candles(symbol=SYMBOL, interval=INTERVAL, candles=batch)
        t2 = time.perf_counter()
        rewritten += services.upsert_candles(symbol=SYMBOL, interval=INTERVAL, candles=batch)
        t3 = time.perf_counter()
        generate, upsert_s, reimport_s = generate + t1 - t0, upsert_s + t2 - t1, reimport_s + t3 - t2
        print(f"  {offset + size:>9,} candles written", flush=True)
    if written != candles or rewritten != 0:
        raise SystemExit(f"FAILED: wrote {written} of {candles}; the re-import wrote {rewritten}")
    return {
        "candles": candles,
        "chunk": chunk,
        "generate_s": round(generate, 3),
        "upsert_s": round(upsert_s, 3),
        "upsert_rows_per_s": round(candles / upsert_s),
        "reimport_s": round(reimport_s, 3),
        "reimport_rows_per_s": round(candles / reimport_s),
    }


def load(candles: int, repeats: int) -> dict[str, Any]:
    from apps.candles import selectors

    times = []
    for _ in range(repeats):
        benchlib.wait_until_quiet()
        t0 = time.perf_counter()
        arrays = selectors.load_arrays(symbol=SYMBOL, interval=INTERVAL)
        times.append(time.perf_counter() - t0)
        if len(arrays) != candles or not np.all(np.diff(arrays.open_time) == 60_000):
            raise SystemExit(f"FAILED: loaded {len(arrays)} candles, expected {candles} consecutive")
    return {
        "candles": candles,
        "repeats": repeats,
        "best_s": round(min(times), 4),
        "median_s": round(statistics.median(times), 4),
        "candles_per_s_best": round(candles / min(times)),
        "candles_per_s_median": round(candles / statistics.median(times)),
    }


def baseline(subset: int) -> dict[str, Any]:
    """The naive way on the first `subset` candles, and the loader on the same range."""
    from apps.candles import intervals, selectors
    from apps.candles.models import Candle

    end = START + timedelta(minutes=subset)
    benchlib.wait_until_quiet()
    t0 = time.perf_counter()
    rows = list(
        Candle.objects.filter(symbol=SYMBOL, interval=INTERVAL, open_time__gte=START, open_time__lt=end)
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    naive: dict[str, np.ndarray] = {
        "open_time": np.array([intervals.to_ms(r[0]) for r in rows], dtype=np.int64)
    }
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        naive[name] = np.array([float(cast(Decimal, r[i])) for r in rows], dtype=np.float64)
    naive_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    arrays = selectors.load_arrays(symbol=SYMBOL, interval=INTERVAL, start=START, end=end)
    loader_s = time.perf_counter() - t1
    for name, values in naive.items():
        if not np.array_equal(getattr(arrays, name), values):
            raise SystemExit(f"FAILED: loader and ORM disagree on {name}")
    return {
        "candles": subset,
        "orm_values_list_s": round(naive_s, 4),
        "orm_values_list_per_s": round(subset / naive_s),
        "loader_s": round(loader_s, 4),
        "loader_per_s": round(subset / loader_s),
        "speedup": round(naive_s / loader_s, 1),
        "equal": True,
    }


def main() -> None:
    parser = benchlib.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    benchlib.ensure_database()
    benchlib.setup_django()
    from apps.candles import services

    info = benchlib.machine()
    benchlib.print_machine(info)
    services.delete_series(symbol=SYMBOL, interval=INTERVAL)
    benchlib.vacuum_analyze("candles_candle")

    print(f"upsert: {args.candles:,} synthetic {INTERVAL} candles in chunks of {args.chunk:,}", flush=True)
    benchlib.wait_until_quiet()
    written = upsert(args.candles, args.chunk)
    print(
        f"upsert: {written['upsert_rows_per_s']:,} rows/s new ({written['upsert_s']} s); "
        f"re-import of the same candles {written['reimport_rows_per_s']:,} rows/s, 0 rows changed "
        f"(generating them: {written['generate_s']} s, not counted)"
    )
    services.refresh_statistics()

    loaded = load(args.candles, args.repeats)
    print(
        f"load_arrays: {args.candles:,} candles in {loaded['best_s']} s best / {loaded['median_s']} s median "
        f"= {loaded['candles_per_s_best']:,} / {loaded['candles_per_s_median']:,} candles/s "
        f"(target {TARGET_LOAD_PER_SECOND:,})"
    )
    base = baseline(min(args.baseline, args.candles))
    print(
        f"baseline ({base['candles']:,} candles): ORM values_list -> numpy "
        f"{base['orm_values_list_per_s']:,}/s ({base['orm_values_list_s']} s); "
        f"load_arrays {base['loader_per_s']:,}/s ({base['loader_s']} s): "
        f"{base['speedup']}x; arrays equal"
    )
    services.delete_series(symbol=SYMBOL, interval=INTERVAL)
    benchlib.write_json(args.json, {"machine": info, "upsert": written, "load": loaded, "baseline": base})


if __name__ == "__main__":
    main()
