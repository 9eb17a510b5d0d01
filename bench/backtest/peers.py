# ruff: noqa: PLC0415 - peer libraries exist only in the bench venv; imported where used
"""The peer engines (backtrader, vectorbt) on the same candles. Runs in bench/backtest/.venv-bench
only (never imports the project): the caller passes the candles as an .npz file and reads one
JSON object from stdout.

    peers.py crosscheck DATA.npz --quote 1000 --fee 0.001 --step 0.00001 --cash 10000
        backtrader, SMA(20)/SMA(50) crossover, set to the project's fill and fee model:
        market orders at the next candle's open; size floor((quote / signal close) / step) * step;
        the buy's commission taken in the base asset (Binance's rule, as the project's matching
        engine does): the position is the bought size less round_half_up(size * fee, 8) and that
        commission's value is charged in cash; the exit sells the position floored to the step
        with fee x value in cash; the dust stays and is marked at the last close.
    peers.py bench DATA.npz --engine backtrader|vectorbt [--quote 1000 --fee 0.001]
        the SMA cross over every candle, timed; {"engine", "wall_s", "candles", "trades", "maxrss_mib"}.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np


def _load(path: str) -> dict[str, np.ndarray]:
    data = np.load(path)
    return {k: data[k] for k in ("open_time", "open", "high", "low", "close", "volume")}


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


def _frame(c: dict[str, np.ndarray]):
    import pandas as pd

    index = pd.to_datetime(c["open_time"], unit="ms")  # tz-naive (the fast path for vectorbt)
    return pd.DataFrame(
        {"open": c["open"], "high": c["high"], "low": c["low"], "close": c["close"], "volume": c["volume"]},
        index=index,
    )


# -- backtrader --------------------------------------------------------------------------------

#: Net (received) buy size -> gross size ordered; the commission scheme needs the gross size.
_GROSS: dict[float, Decimal] = {}


def _buy_fee_value(size: float, price: float, fee: Decimal) -> float:
    """Cash value of the base commission of a buy whose net (received) size is `size`."""
    gross = _GROSS.get(size)
    if gross is None:
        return 0.0
    base_fee = gross - Decimal(repr(size))
    return float(base_fee) * price


def crosscheck(args: argparse.Namespace) -> dict[str, object]:
    return _backtrader_run_with_gross(_load(args.data), args)


def _backtrader_run_with_gross(c: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, object]:
    import backtrader as bt

    step_d = Decimal(args.step)
    fee_d = Decimal(args.fee)
    fee = float(args.fee)
    quote = Decimal(args.quote)
    trades: list[dict[str, str]] = []

    class Commission(bt.CommInfoBase):
        params = (("commtype", bt.CommInfoBase.COMM_FIXED), ("stocklike", True), ("commission", 0.0))

        def _getcommission(self, size, price, pseudoexec):
            if size > 0:
                return _buy_fee_value(size, price, fee_d)
            return abs(size) * price * fee

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            fast = bt.ind.SMA(self.data.close, period=20)
            slow = bt.ind.SMA(self.data.close, period=50)
            self.cross = bt.ind.CrossOver(fast, slow)
            self.held = Decimal(0)
            self.long = False
            self.pending = False

        def next(self) -> None:
            if self.pending:
                return
            if not self.long and self.cross[0] > 0:
                close = Decimal(repr(float(self.data.close[0])))
                gross = (quote / close / step_d).to_integral_value(ROUND_DOWN) * step_d
                base_fee = (gross * fee_d).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)
                net = float(gross - base_fee)
                _GROSS[net] = gross
                self.pending = True
                self.buy(size=net)
            elif self.long and self.cross[0] < 0:
                # The whole position floored to the step; the dust stays (as the runtime's does).
                sellable = (self.held / step_d).to_integral_value(ROUND_DOWN) * step_d
                self.pending = True
                self.sell(size=float(sellable))

        def notify_order(self, order) -> None:
            if order.status not in (order.Completed, order.Canceled, order.Margin, order.Rejected):
                return
            self.pending = False
            if order.status != order.Completed:
                return
            self.long = order.isbuy()
            price = Decimal(repr(float(order.executed.price)))
            when = round(bt.num2date(order.executed.dt).timestamp() * 1000)
            size = Decimal(repr(abs(float(order.executed.size))))
            if order.isbuy():
                self.held += size
                trades.append(
                    {"side": "BUY", "time_ms": when, "price": str(price), "qty": str(_GROSS[float(size)])}
                )
            else:
                self.held -= size
                trades.append({"side": "SELL", "time_ms": when, "price": str(price), "qty": str(size)})

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=_frame(c)))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(float(args.cash))
    cerebro.broker.addcommissioninfo(Commission())
    cerebro.run()
    return {"engine": "backtrader", "trades": trades, "final_equity": cerebro.broker.getvalue()}


def bench(args: argparse.Namespace) -> dict[str, object]:
    c = _load(args.data)
    n = len(c["close"])
    if args.engine == "backtrader":
        import backtrader as bt

        class SmaCross(bt.Strategy):
            def __init__(self) -> None:
                self.cross = bt.ind.CrossOver(
                    bt.ind.SMA(self.data.close, period=20), bt.ind.SMA(self.data.close, period=50)
                )

            def next(self) -> None:
                if not self.position and self.cross[0] > 0:
                    self.buy(size=args.quote / self.data.close[0])
                elif self.position and self.cross[0] < 0:
                    self.close()

        frame = _frame(c)
        started = time.perf_counter()
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(SmaCross)
        cerebro.broker.setcash(1e12)
        cerebro.broker.setcommission(commission=args.fee)
        analyzer = bt.analyzers.TradeAnalyzer
        cerebro.addanalyzer(analyzer, _name="ta")
        strategy = cerebro.run()[0]
        wall = time.perf_counter() - started
        closed = strategy.analyzers.ta.get_analysis().get("total", {}).get("closed", 0)
        return {
            "engine": "backtrader",
            "wall_s": wall,
            "candles": n,
            "trades": int(closed),
            "maxrss_mib": _maxrss_mib(),
        }
    import vectorbt as vbt

    frame = _frame(c)
    _vectorbt_sma_cross(vbt, frame.iloc[:2000], args)  # compile numba's kernels first (not timed)
    walls = []
    for _ in range(args.repeat):  # the median of several runs: one run moves by +-50% here
        started = time.perf_counter()
        trades = _vectorbt_sma_cross(vbt, frame, args)
        walls.append(time.perf_counter() - started)
    return {
        "engine": "vectorbt",
        "wall_s": statistics.median(walls),
        "walls_s": walls,
        "candles": n,
        "trades": trades,
        "maxrss_mib": _maxrss_mib(),
    }


def _vectorbt_sma_cross(vbt, frame, args: argparse.Namespace) -> int:
    close = frame["close"]
    fast = vbt.MA.run(close, 20)
    slow = vbt.MA.run(close, 50)
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    # Signal on the close, fill at the next open (shift the signals by one candle).
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries.shift(1, fill_value=False),
        exits.shift(1, fill_value=False),
        price=frame["open"],
        size=args.quote,
        size_type="value",
        fees=args.fee,
        init_cash=1e12,
        freq="1min",
    )
    return int(portfolio.trades.count())


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cc = sub.add_parser("crosscheck")
    cc.add_argument("data")
    cc.add_argument("--quote", default="1000")
    cc.add_argument("--fee", default="0.001")
    cc.add_argument("--step", default="0.00001")
    cc.add_argument("--cash", default="10000")
    b = sub.add_parser("bench")
    b.add_argument("data")
    b.add_argument("--engine", choices=["backtrader", "vectorbt"], required=True)
    b.add_argument("--quote", type=float, default=1000.0)
    b.add_argument("--fee", type=float, default=0.001)
    b.add_argument("--repeat", type=int, default=1, help="vectorbt: timed runs (median reported)")
    args = parser.parse_args()
    result = crosscheck(args) if args.command == "crosscheck" else bench(args)
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
