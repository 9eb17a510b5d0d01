"""The fill model, rule by rule, on hand-computed candles (docs/BACKTEST.md, "Fill model").

Fees in these tests: maker 0.1 %, taker 0.2 % (different, so the role of each fill shows).
"""

from __future__ import annotations

from decimal import Decimal

from apps.backtest.engine.broker import ACCOUNT
from apps.core.domain import OrderStatus
from apps.strategy.runtime.types import CancelIntent

from .helpers import MINUTE, START_MS, ScriptedRuntime, arrays, buy, run_scripted, sell

D = Decimal


def test_market_order_fills_at_next_open_plus_slippage_as_taker() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("m1", "1")]})
    candles = arrays([(90, 95, 85, 92), (100, 103, 99, 101), (101, 102, 100, 101)])
    result = run_scripted(runtime, candles, slippage_bps="10", initial="1000")
    [fill] = runtime.fills
    # 100 * (1 + 10 bps) = 100.10, rounded up to the tick (away from the buyer's favour).
    assert fill.price == D("100.10")
    assert fill.quantity == D("1")
    assert fill.commission == D("0.002")  # taker 0.2 % of the base received
    assert fill.executed_at.timestamp() * 1000 == START_MS + MINUTE  # candle 1's open
    trade = result.broker.trades()[0]
    assert trade.is_maker is False
    base, quote = result.broker.totals()
    assert (base, quote) == (D("0.998"), D("899.90"))


def test_market_sell_slips_down_to_the_tick() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("b", "1")], 1: [sell("s", "0.5")]})
    candles = arrays([(100, 100, 100, 100), (100, 100, 100, 100), (100.05, 101, 99, 100)])
    run_scripted(runtime, candles, slippage_bps="7")
    sale = runtime.fills[1]
    # 100.05 * (1 - 7 bps) = 99.979965 -> 99.97 (down to the tick)
    assert sale.price == D("99.97")
    assert sale.commission == D("0.09997000")  # 0.2 % of 49.985 quote, half-up to 8 places


def test_limit_buy_fills_only_when_the_low_reaches_it_at_the_limit_price_as_maker() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("l1", "0.1", "95.00")]})
    candles = arrays(
        [
            (100, 100, 100, 100),
            (100, 101, 95.01, 99),  # low stays a cent above: no fill
            (99, 100, 95.00, 98),  # low touches: fill at 95.00
            (98, 99, 90, 91),
        ]
    )
    result = run_scripted(runtime, candles)
    [fill] = runtime.fills
    assert fill.price == D("95.00")
    assert fill.commission == D("0.0001")  # maker 0.1 % of 0.1 BTC
    assert result.broker.trades()[0].is_maker is True
    assert START_MS + 2 * MINUTE <= fill.executed_at.timestamp() * 1000 < START_MS + 3 * MINUTE


def test_limit_sell_fills_when_the_high_reaches_it() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("b", "1")], 1: [sell("s", "0.9", "105.00")]})
    candles = arrays(
        [
            (100, 100, 100, 100),
            (100, 100, 100, 100),
            (100, 104.99, 99, 104),  # high short by a cent
            (104, 105.00, 103, 104),  # touches
        ]
    )
    run_scripted(runtime, candles)
    assert [f.price for f in runtime.fills] == [D("100"), D("105.00")]
    assert runtime.fills[1].executed_at.timestamp() * 1000 >= START_MS + 3 * MINUTE


def test_a_gap_through_a_resting_limit_fills_at_the_limit_price() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("l", "0.1", "95.00")]})
    candles = arrays([(100, 100, 100, 100), (100, 100, 99, 99), (90, 92, 89, 91)])
    run_scripted(runtime, candles)
    [fill] = runtime.fills
    assert fill.price == D("95.00")
    assert fill.executed_at.timestamp() * 1000 == START_MS + 2 * MINUTE  # at the gap's open


def test_a_limit_that_crosses_when_placed_trades_as_taker_at_the_open() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("l", "0.1", "110.00")]})
    candles = arrays([(100, 100, 100, 100), (100, 101, 99, 100)])
    result = run_scripted(runtime, candles)
    [fill] = runtime.fills
    assert fill.price == D("100")
    assert result.broker.trades()[0].is_maker is False
    assert fill.commission == D("0.0002")


def _path_order(candle: tuple[float, float, float, float]) -> list[str]:
    runtime = ScriptedRuntime(
        on_close={0: [buy("b", "1")], 1: [buy("lo", "0.1", "95.00"), sell("hi", "0.5", "105.00")]}
    )
    flat = (100.0, 100.0, 100.0, 100.0)
    run_scripted(runtime, arrays([flat, flat, candle]))
    return [f.client_order_id for f in runtime.fills[1:]]


def test_path_rule_rising_candle_dips_first_falling_candle_rises_first() -> None:
    assert _path_order((100, 106, 94, 105)) == ["lo", "hi"]  # O -> L -> H -> C
    assert _path_order((100, 106, 94, 95)) == ["hi", "lo"]  # O -> H -> L -> C
    assert _path_order((100, 106, 94, 100)) == ["lo", "hi"]  # flat body counts as rising


def test_runtime_reacts_within_the_candle_at_the_tick_of_the_fill() -> None:
    # The buy at 95 fills at the low; the counter-sell at 100 placed then fills at the high.
    runtime = ScriptedRuntime(
        on_close={0: [buy("lo", "0.1", "95.00")]},
        on_filled={"lo": [sell("tp", "0.0999", "100.00")]},
    )
    candles = arrays([(100, 100, 100, 100), (99, 101, 94, 100.5)])
    run_scripted(runtime, candles)
    assert [(f.client_order_id, f.price) for f in runtime.fills] == [("lo", D("95.00")), ("tp", D("100.00"))]


def test_refused_intent_is_rejected_and_recorded() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("tiny", "0.000001", "95.00"), buy("poor", "1000", "95.00")]})
    result = run_scripted(runtime, arrays([(100, 100, 100, 100), (100, 100, 100, 100)]))
    assert [(u.client_order_id, u.status) for u in runtime.updates] == [
        ("tiny", OrderStatus.REJECTED),
        ("poor", OrderStatus.REJECTED),
    ]
    reasons = [r.reason for r in result.broker.rejections]
    assert reasons[0].startswith("-1111") or reasons[0].startswith("-1013")
    assert "insufficient balance" in reasons[1]
    assert result.broker.engine.open_orders(ACCOUNT) == []


def test_cancel_releases_the_lock_and_is_reported() -> None:
    runtime = ScriptedRuntime(on_close={0: [buy("l", "1", "50.00")], 1: [CancelIntent("l", "x")]})
    result = run_scripted(runtime, arrays([(100, 100, 100, 100)] * 3), initial="100")
    assert [(u.client_order_id, u.status) for u in runtime.updates] == [("l", OrderStatus.CANCELED)]
    assert result.broker.totals() == (D(0), D("100"))


def test_idle_candles_are_skipped_but_touching_ones_are_processed() -> None:
    # A resting buy at 95 and a quiet runtime: only candles whose low reaches 95 need work.
    rows = [(100.0, 101.0, 99.0, 100.0)] * 1000
    rows[500] = (100.0, 101.0, 94.0, 100.0)
    runtime = ScriptedRuntime(on_close={0: [buy("l", "0.1", "95.00")]}, quiet=True)
    result = run_scripted(runtime, arrays(rows))
    assert [f.price for f in runtime.fills] == [D("95.00")]
    # candle 0 (intent), 1 (placement at the open), 500 (fill); nothing else.
    assert result.steps == 3
    assert [int((b.open_time.timestamp() * 1000 - START_MS) // MINUTE) for b in runtime.candles_seen] == [
        0,
        1,
        500,
    ]
    base, _ = result.broker.totals()
    assert base == D("0.0999")
