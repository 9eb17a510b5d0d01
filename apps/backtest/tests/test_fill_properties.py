"""Properties of the fill model on random candles (hypothesis): a resting limit fills at the
first candle that trades through its price, at its price; skipping idle candles never changes
when or at what price."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.strategy.runtime.types import Intent

from .helpers import ScriptedRuntime, arrays, buy, run_scripted, sell


@st.composite
def candle_rows(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    """Whole-cent candles around 100 with consistent OHLC."""
    count = draw(st.integers(min_value=2, max_value=40))
    rows = []
    for _ in range(count):
        o, c = draw(st.integers(9000, 11000)), draw(st.integers(9000, 11000))
        h = max(o, c) + draw(st.integers(0, 300))
        lo = min(o, c) - draw(st.integers(0, 300))
        rows.append((o / 100, h / 100, lo / 100, c / 100))
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=candle_rows(), price_cents=st.integers(8800, 11200), quiet=st.booleans())
def test_limit_buy_fills_at_first_candle_through_its_price(rows, price_cents, quiet) -> None:
    price = Decimal(price_cents) / 100
    runtime = ScriptedRuntime(on_close={0: [buy("b", "0.1", str(price))]}, quiet=quiet)
    run_scripted(runtime, arrays(rows))
    opens = [Decimal(repr(r[0])) for r in rows]
    lows = [Decimal(repr(r[2])) for r in rows]
    if len(rows) < 2:
        assert runtime.fills == []
        return
    expected: tuple[int, Decimal] | None
    if opens[1] <= price:  # crosses when placed: taker at the open
        expected = (1, opens[1])
    else:
        first = next((k for k in range(1, len(rows)) if lows[k] <= price), None)
        expected = None if first is None else (first, price)
    if expected is None:
        assert runtime.fills == []
        return
    [fill] = runtime.fills
    index = int((fill.executed_at.timestamp() * 1000 - arrays(rows).open_time[0]) // 60_000)
    assert (index, fill.price) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=candle_rows(), levels=st.lists(st.integers(9000, 11000), min_size=1, max_size=4, unique=True))
def test_skipping_never_changes_the_fills(rows, levels) -> None:
    """A ladder of buys, each answered by a sell 1 % above: quiet (skipping) and stepping agree."""

    def ladder(quiet: bool) -> list[tuple[str, Decimal, object]]:
        intents: list[Intent] = [buy(f"b{p}", "0.1", str(Decimal(p) / 100)) for p in levels]
        answers: dict[str, list[Intent]] = {
            f"b{p}": [sell(f"s{p}", "0.0998", str((Decimal(p) * Decimal("1.01")).quantize(Decimal(1)) / 100))]
            for p in levels
        }
        runtime = ScriptedRuntime(on_close={0: intents}, on_filled=answers, quiet=quiet)
        run_scripted(runtime, arrays(rows))
        assert not [u for u in runtime.updates if u.status == "REJECTED"]
        return [(f.client_order_id, f.price, f.executed_at) for f in runtime.fills]

    assert ladder(True) == ladder(False)
