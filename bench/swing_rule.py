"""A typical Swing rule over 1,000,000 synthetic candles: compile time, vectorized evaluation
(the backtester's path) in candles/s, and the live path (`evaluate_latest`) per call.

Rule: crosses_above(sma(close, 20), sma(close, 50)) and rsi(close, 14) < 70

Baseline, same run, same candles: the same rule hand-written in plain numpy (SMAs from a
cumulative sum, Wilder's RSI in a Python loop over a list) — what one would write without
the DSL. The script checks that both agree on every candle.

No database, no Redis: pure CPU. By default each measurement waits for the CPUs to be quiet
(other test runs skew the figures); --no-wait measures at once.

    .venv/bin/python bench/swing_rule.py [--candles 1000000] [--repeats 5] [--no-wait] [--profile] [--json F]
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import benchlib
import numpy as np

from apps.strategy import indicators
from apps.strategy.dsl import PositionState, Series, compile_rule
from apps.strategy.dsl.rule import _compile  # the uncached compiler: compile time, not a cache hit

RULE = "crosses_above(sma(close, 20), sma(close, 50)) and rsi(close, 14) < 70"
COMPILE_REPEATS = 300
LIVE_CALLS = 2000
COLUMNS = ("open", "high", "low", "close", "volume")


def synthetic_candles(count: int, seed: int = 42) -> Series:
    """A geometric random walk around 30,000 with 0.2 % steps, candles built around it."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.001, count))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    volume = rng.gamma(2.0, 5.0, count)
    return Series(open_, high, low, close, volume)


# --- the baseline: the same rule written by hand ------------------------------------------------


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    total = np.cumsum(np.concatenate([[0.0], x]))
    out = np.full(x.shape[0], np.nan)
    out[n - 1 :] = (total[n:] - total[:-n]) / n
    return out


def _rsi(x: np.ndarray, n: int) -> np.ndarray:
    change = np.diff(x)
    gains = np.maximum(change, 0.0).tolist()
    losses = np.maximum(-change, 0.0).tolist()
    out = np.full(x.shape[0], np.nan)
    if len(gains) < n:
        return out
    gain, loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    values = [100.0 * gain / (gain + loss) if gain + loss else 50.0]
    for g, lo in zip(gains[n:], losses[n:], strict=True):
        gain = (gain * (n - 1) + g) / n
        loss = (loss * (n - 1) + lo) / n
        values.append(100.0 * gain / (gain + loss) if gain + loss else 50.0)
    out[n:] = values
    return out


def baseline(series: Series) -> np.ndarray:
    close = series.close
    fast, slow, rsi = _sma(close, 20), _sma(close, 50), _rsi(close, 14)
    out = np.zeros(close.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1]) & (rsi[1:] < 70)
    return out


# --- measurements ----------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def measure(label: str, fn: Callable[[], Any], repeats: int, *, wait: bool) -> tuple[list[float], Any, float]:
    if not wait:
        seconds, result = timed(fn, repeats)
        return seconds, result, 0.0
    (seconds, result), other = benchlib.measure_quietly(label, lambda: timed(fn, repeats))
    return seconds, result, other


def summary(seconds: list[float], items: int) -> dict[str, float]:
    best, median = min(seconds), statistics.median(seconds)
    return {
        "best_s": round(best, 4),
        "median_s": round(median, 4),
        "per_second_median": round(items / median, 1),
        "per_second_best": round(items / best, 1),
    }


def kernel_split(series: Series) -> dict[str, float]:
    """Milliseconds of each kernel the rule runs, best of 3, on the same candles."""
    close = series.close
    fast, slow, rsi = indicators.sma(close, 20), indicators.sma(close, 50), indicators.rsi(close, 14)
    kernels: dict[str, Callable[[], Any]] = {
        "sma(close, 20)": lambda: indicators.sma(close, 20),
        "sma(close, 50)": lambda: indicators.sma(close, 50),
        "rsi(close, 14)": lambda: indicators.rsi(close, 14),
        "crosses_above, <, and": lambda: indicators.crosses_above(fast, slow) & (rsi < 70),
    }
    return {name: round(min(timed(fn, 3)[0]) * 1000, 1) for name, fn in kernels.items()}


def window(series: Series, end: int, length: int) -> Series:
    """The `length` candles ending just before index `end` (views, no copy)."""
    return Series(*(getattr(series, c)[max(end - length, 0) : end] for c in COLUMNS))


def live(series: Series, everywhere: np.ndarray) -> dict[str, Any]:
    """evaluate_latest over `recommended_history` candles, as the live engine would call it
    on each closed candle, and whether it agrees with the backtest over the full history."""
    rule = compile_rule(RULE)
    history = rule.recommended_history
    ends = np.linspace(max(len(series) - 200_000, history + 1), len(series), LIVE_CALLS, dtype=int)
    tails = [window(series, int(e), history) for e in ends]
    start = time.perf_counter()
    answers = [rule.evaluate_latest(tail) for tail in tails]
    seconds = time.perf_counter() - start
    agree = sum(answer == bool(everywhere[e - 1]) for answer, e in zip(answers, ends, strict=True))
    # the candles where the rule fires are the interesting ones: check every one of them too
    fired = [int(i) for i in np.flatnonzero(everywhere) if i >= history]
    fired_agree = sum(rule.evaluate_latest(window(series, i + 1, history)) for i in fired)
    return {
        "history_candles": history,
        "calls": LIVE_CALLS,
        "us_per_call": round(seconds / LIVE_CALLS * 1e6, 1),
        "agree_with_backtest": f"{agree}/{LIVE_CALLS}",
        "fires_where_backtest_fires": f"{fired_agree}/{len(fired)}",
    }


POSITION_RULE = "crosses_below(sma(close, 20), sma(close, 50)) or pnl_pct <= -3 or bars_in_trade > 200"


def bound(series: Series) -> dict[str, Any]:
    """The backtester's path for rules reading position terms: bind once (market parts
    vectorized), then one scalar evaluation per candle with that candle's position."""
    rule = compile_rule(POSITION_RULE)
    start = time.perf_counter()
    bound_rule = rule.bind(series)
    bound_rule.at(len(series) - 1, PositionState(30_000.0, 0.0, 0.0))  # computes the market parts
    bind_s = time.perf_counter() - start
    calls = min(len(series), 200_000)
    states = [PositionState(30_000.0, (i % 7) - 3.5, float(i % 300)) for i in range(calls)]
    start = time.perf_counter()
    fired = sum(bound_rule.at(i, states[i]) for i in range(calls))
    seconds = time.perf_counter() - start
    return {
        "rule": POSITION_RULE,
        "bind_and_market_parts_s": round(bind_s, 3),
        "calls": calls,
        "us_per_candle": round(seconds / calls * 1e6, 2),
        "true": fired,
    }


def machine() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": benchlib._cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_at_start": os.getloadavg(),
        "cpu_calibration_ms": benchlib.cpu_calibration_ms(),
    }


def main() -> None:
    parser = benchlib.arg_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for idle CPUs")
    args = parser.parse_args()
    wait = not args.no_wait

    info = machine()
    print(f"machine: {info}")
    series = synthetic_candles(args.candles)
    print(f"swing rule: {RULE!r} over {args.candles:,} synthetic candles")

    compile_s, rule, _ = measure(
        "compile", lambda: [_compile(RULE) for _ in range(COMPILE_REPEATS)][-1], 1, wait=wait
    )
    compile_ms = compile_s[0] / COMPILE_REPEATS * 1000
    print(f"compile (parse + check + plan, uncached): {compile_ms:.3f} ms per rule")

    dsl_s, everywhere, dsl_other = measure(
        "dsl", lambda: rule.evaluate_vectorized(series), args.repeats, wait=wait
    )
    base_s, expected, base_other = measure("baseline", lambda: baseline(series), args.repeats, wait=wait)
    dsl, base = summary(dsl_s, args.candles), summary(base_s, args.candles)
    mismatches = int(np.count_nonzero(everywhere != expected))
    print(
        f"DSL evaluate_vectorized: median {dsl['median_s']:.3f} s = "
        f"{dsl['per_second_median']:,.0f} candles/s (best {dsl['per_second_best']:,.0f})"
        f"{benchlib.other_cpu_note(dsl_other)}"
    )
    print(
        f"baseline (hand-written numpy): median {base['median_s']:.3f} s = {base['per_second_median']:,.0f} "
        f"candles/s (best {base['per_second_best']:,.0f}){benchlib.other_cpu_note(base_other)}"
    )
    print(
        f"signals: {int(everywhere.sum())} (DSL), {int(expected.sum())} (baseline); mismatches {mismatches}"
    )
    split = kernel_split(series)
    print(f"kernels (ms, best of 3): {split}")
    live_figures = live(series, everywhere)
    print(f"live evaluate_latest: {live_figures}")
    bound_figures = bound(series)
    print(f"backtest with position terms (bind + at): {bound_figures}")
    if args.profile:
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
        profiler.runcall(rule.evaluate_vectorized, series)
        benchlib.print_profile(profiler)

    benchlib.write_json(
        args.json,
        {
            "benchmark": "swing_rule",
            "machine": info,
            "rule": RULE,
            "candles": args.candles,
            "compile_ms": round(compile_ms, 3),
            "dsl": {**dsl, "other_cpu_pct": round(dsl_other, 1)},
            "baseline": {**base, "other_cpu_pct": round(base_other, 1)},
            "dsl_over_baseline": round(dsl["median_s"] / base["median_s"], 2)
            if base["median_s"]
            else math.nan,
            "signals": int(everywhere.sum()),
            "mismatches_with_baseline": mismatches,
            "kernels_ms": split,
            "live": live_figures,
            "bound": bound_figures,
        },
    )
    assert mismatches == 0, "the DSL and the hand-written baseline disagree"


if __name__ == "__main__":
    main()
