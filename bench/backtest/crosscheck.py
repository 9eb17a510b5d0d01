"""Cross-check the backtester against an independent engine (backtrader).

An SMA(20)/SMA(50) crossover Swing rule on a fixed seeded candle series, run by the project's
backtester and by backtrader set to the same fill and fee model (see peers.py). Prints both
trade lists and final equities; exits 1 when the trades differ or the final equities differ
by more than 1e-6 relative.

    bench/backtest/run crosscheck            # makes the peer venv if needed, then this
    .venv/bin/python bench/backtest/crosscheck.py [--count 20000] [--fee 0.001]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER_PYTHON = HERE / ".venv-bench" / "bin" / "python"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings.test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from apps.backtest.engine import BacktestSpec, simulate  # noqa: E402
from apps.candles import intervals  # noqa: E402
from apps.candles.domain import CandleArrays  # noqa: E402
from apps.candles.synthetic import SyntheticParams, synthetic_candles  # noqa: E402
from apps.core.domain import SymbolFilters  # noqa: E402
from apps.exchange.matching import FeeSchedule  # noqa: E402
from apps.strategy.configs import StrategyKind, parse_config  # noqa: E402

FILTERS = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
RULE = {
    "entry": "crosses_above(sma(close, 20), sma(close, 50))",
    "exit": "crosses_below(sma(close, 20), sma(close, 50))",
    "sizing_mode": "quote",
    "sizing_value": "1000",
}


def candles(count: int, seed: int) -> CandleArrays:
    rows = list(
        synthetic_candles(
            interval="1m",
            start=datetime(2024, 1, 1, tzinfo=UTC),
            count=count,
            params=SyntheticParams(seed=seed, volatility=0.002),
        )
    )
    return CandleArrays(
        open_time=np.asarray([intervals.to_ms(r.open_time) for r in rows], dtype=np.int64),
        open=np.asarray([float(r.open) for r in rows]),
        high=np.asarray([float(r.high) for r in rows]),
        low=np.asarray([float(r.low) for r in rows]),
        close=np.asarray([float(r.close) for r in rows]),
        volume=np.asarray([float(r.volume) for r in rows]),
    )


def ours(data: CandleArrays, fee: Decimal, cash: Decimal) -> dict[str, object]:
    spec = BacktestSpec(
        kind=StrategyKind.SWING,
        config=parse_config(StrategyKind.SWING, RULE),
        filters=FILTERS,
        interval="1m",
        fees=FeeSchedule(maker=fee, taker=fee),
        slippage_bps=Decimal(0),
        initial_quote=cash,
    )
    outcome = simulate(spec, data)
    trades = [
        {
            "side": str(t.side),
            "time_ms": t.time_ms,
            "price": str(t.price.normalize()),
            "qty": str(t.quantity.normalize()),
        }
        for t in outcome.trades
    ]
    return {"engine": "tradingbot", "trades": trades, "final_equity": str(outcome.metrics.final_equity)}


def peer(data: CandleArrays, fee: Decimal, cash: Decimal) -> dict[str, object]:
    if not PEER_PYTHON.exists():
        raise SystemExit(f"no peer venv at {PEER_PYTHON}: run bench/backtest/run crosscheck")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candles.npz"
        np.savez(
            path, **{k: getattr(data, k) for k in ("open_time", "open", "high", "low", "close", "volume")}
        )
        command = [str(PEER_PYTHON), str(HERE / "peers.py"), "crosscheck", str(path)]
        command += ["--quote", RULE["sizing_value"], "--fee", str(fee)]
        command += ["--step", str(FILTERS.step_size), "--cash", str(cash)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def _norm(trade: dict[str, object]) -> tuple[str, int, Decimal, Decimal]:
    """Side, time, price and quantity. backtrader carries prices as floats (37953.16 may come
    back as 37953.16000000001), so prices are compared at 8 decimals; the rest exactly."""
    price = Decimal(str(trade["price"])).quantize(Decimal("1e-8")).normalize()
    return (str(trade["side"]), int(str(trade["time_ms"])), price, Decimal(str(trade["qty"])))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fee", type=Decimal, default=Decimal("0.001"))
    parser.add_argument("--cash", type=Decimal, default=Decimal("10000"))
    args = parser.parse_args()
    data = candles(args.count, args.seed)
    a, b = ours(data, args.fee, args.cash), peer(data, args.fee, args.cash)
    ta = [_norm(t) for t in a["trades"]]  # type: ignore[attr-defined]
    tb = [_norm(t) for t in b["trades"]]  # type: ignore[attr-defined]
    print(f"{'#':>4}  {'tradingbot':<58}  backtrader")
    for i in range(max(len(ta), len(tb))):
        left = " ".join(str(x) for x in ta[i]) if i < len(ta) else "-"
        right = " ".join(str(x) for x in tb[i]) if i < len(tb) else "-"
        mark = "" if i < len(ta) and i < len(tb) and ta[i] == tb[i] else "   <-- differs"
        print(f"{i:>4}  {left:<58}  {right}{mark}")
    fa, fb = Decimal(str(a["final_equity"])), Decimal(str(b["final_equity"]))
    relative = abs(fa - fb) / abs(fb)
    print(f"final equity: tradingbot {fa}  backtrader {fb}  relative difference {relative:.3e}")
    print(f"fills: tradingbot {len(ta)}  backtrader {len(tb)}")
    ok = ta == tb and relative <= Decimal("1e-6")
    print("MATCH" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
