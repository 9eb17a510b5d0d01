"""The matching engine: fills, partial fills, fees, balances, errors, determinism."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.domain import OrderType, Side, SymbolFilters, TimeInForce
from apps.exchange.matching import (
    AccountPosition,
    EngineError,
    ExecutionReport,
    ExecutionType,
    FeeSchedule,
    MatchingEngine,
    VenueOrderStatus,
    candle_path,
)

D = Decimal
BTCUSDT = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.00001"),
    min_qty=D("0.00001"),
    max_qty=D("9000"),
    min_notional=D("5"),
)
ETHUSDT = SymbolFilters(
    symbol="ETHUSDT",
    base_asset="ETH",
    quote_asset="USDT",
    tick_size=D("0.01"),
    step_size=D("0.0001"),
    min_notional=D("5"),
)
FEES = FeeSchedule(maker=D("0.001"), taker=D("0.002"))
ACCOUNT = "acct"
ZERO = D(0)


def make_engine(*, liquidity: Decimal | None = None, slippage_bps: Decimal = ZERO) -> MatchingEngine:
    engine = MatchingEngine(fees=FEES, slippage_bps=slippage_bps, now_ms=1_000)
    engine.add_symbol(BTCUSDT, price=D("100.00"), liquidity_per_tick=liquidity)
    engine.add_symbol(ETHUSDT, price=D("10.00"))
    engine.open_account(ACCOUNT, {"USDT": D("10000"), "BTC": D("10"), "ETH": D("10")})
    return engine


def free(engine: MatchingEngine, asset: str) -> Decimal:
    return engine.balances(ACCOUNT)[asset].free


def locked(engine: MatchingEngine, asset: str) -> Decimal:
    return engine.balances(ACCOUNT)[asset].locked


def place(
    engine: MatchingEngine,
    cid: str,
    side: Side,
    order_type: OrderType,
    qty: str,
    price: str | None = None,
    tif: TimeInForce | None = None,
    symbol: str = "BTCUSDT",
):
    if order_type == OrderType.LIMIT and tif is None:
        tif = TimeInForce.GTC
    return engine.place_order(
        ACCOUNT,
        symbol=symbol,
        side=side,
        order_type=order_type,
        client_order_id=cid,
        quantity=D(qty),
        price=D(price) if price is not None else None,
        time_in_force=tif,
    )


def reports(events) -> list[tuple[str, str]]:
    return [(str(e.execution_type), str(e.order.status)) for e in events if isinstance(e, ExecutionReport)]


# -- MARKET ---------------------------------------------------------------------------------


def test_market_buy_fills_at_the_current_price_with_taker_fee_in_base() -> None:
    engine = make_engine()
    placement = place(engine, "m1", Side.BUY, OrderType.MARKET, "2")

    assert placement.order.status == VenueOrderStatus.FILLED
    [trade] = placement.trades
    assert (trade.price, trade.quantity, trade.quote_quantity) == (D("100.00"), D("2"), D("200.00"))
    assert (trade.commission, trade.commission_asset, trade.is_maker) == (D("0.004"), "BTC", False)
    assert free(engine, "BTC") == D("10") + D("2") - D("0.004")
    assert free(engine, "USDT") == D("9800")
    assert locked(engine, "USDT") == 0
    assert reports(placement.events) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert isinstance(placement.events[-1], AccountPosition)


def test_market_sell_pays_the_fee_in_quote() -> None:
    engine = make_engine()
    placement = place(engine, "m1", Side.SELL, OrderType.MARKET, "1")

    [trade] = placement.trades
    assert (trade.commission, trade.commission_asset) == (D("0.2"), "USDT")
    assert free(engine, "USDT") == D("10000") + D("100") - D("0.2")
    assert free(engine, "BTC") == D("9")


def test_market_slippage_moves_the_price_against_the_order_onto_the_tick() -> None:
    engine = make_engine(slippage_bps=D("15"))  # 100.00 * 1.0015 = 100.15; * 0.9985 = 99.85
    buy = place(engine, "b", Side.BUY, OrderType.MARKET, "1")
    sell = place(engine, "s", Side.SELL, OrderType.MARKET, "1")
    assert buy.trades[0].price == D("100.15")
    assert sell.trades[0].price == D("99.85")

    engine = make_engine(slippage_bps=D("1"))  # 100.01 exactly; 99.99 exactly
    assert place(engine, "b", Side.BUY, OrderType.MARKET, "1").trades[0].price == D("100.01")


def test_market_buy_by_quote_amount_rounds_the_quantity_down_to_the_step() -> None:
    engine = make_engine()
    placement = engine.place_order(
        ACCOUNT,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        client_order_id="q",
        quote_order_qty=D("33.333"),
    )
    assert placement.order.quantity == D("0.33333")
    assert placement.order.quote_order_qty == D("33.333")
    assert placement.order.cumulative_quote == D("33.333")


# -- LIMIT -----------------------------------------------------------------------------------


def test_resting_limit_buy_locks_quote_and_fills_as_maker_at_its_limit() -> None:
    engine = make_engine()
    placement = place(engine, "l1", Side.BUY, OrderType.LIMIT, "1", "95.00")
    assert placement.order.status == VenueOrderStatus.NEW
    assert placement.order.is_working
    assert locked(engine, "USDT") == D("95")
    assert free(engine, "USDT") == D("9905")

    assert engine.on_price("BTCUSDT", D("96.00"), now_ms=2_000) == []
    events = engine.on_price("BTCUSDT", D("94.50"), now_ms=3_000)

    assert reports(events) == [("TRADE", "FILLED")]
    trade = events[0].trade if isinstance(events[0], ExecutionReport) else None
    assert trade is not None
    assert (trade.price, trade.is_maker, trade.commission, trade.time_ms) == (
        D("95.00"),
        True,
        D("0.001"),
        3_000,
    )
    assert locked(engine, "USDT") == 0
    assert free(engine, "USDT") == D("9905")
    assert free(engine, "BTC") == D("10.999")
    assert isinstance(events[-1], AccountPosition)
    assert {b.asset for b in events[-1].balances} == {"BTC", "USDT"}


def test_resting_limit_sell_fills_when_the_price_reaches_it() -> None:
    engine = make_engine()
    place(engine, "s1", Side.SELL, OrderType.LIMIT, "1", "105.00")
    assert locked(engine, "BTC") == D("1")
    assert engine.on_price("BTCUSDT", D("104.99")) == []
    events = engine.on_price("BTCUSDT", D("105.00"))
    assert reports(events) == [("TRADE", "FILLED")]
    assert free(engine, "USDT") == D("10000") + D("105") - D("0.105")
    assert locked(engine, "BTC") == 0


def test_limit_crossing_at_placement_trades_as_taker_at_the_current_price_and_refunds_the_lock() -> None:
    engine = make_engine()
    placement = place(engine, "x", Side.BUY, OrderType.LIMIT, "1", "120.00")
    [trade] = placement.trades
    assert (trade.price, trade.is_maker, trade.commission) == (D("100.00"), False, D("0.002"))
    assert placement.order.status == VenueOrderStatus.FILLED
    assert free(engine, "USDT") == D("9900")
    assert locked(engine, "USDT") == 0


def test_limit_maker_that_would_cross_is_rejected_and_one_that_does_not_rests() -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        place(engine, "lm", Side.BUY, OrderType.LIMIT_MAKER, "1", "100.00")
    assert (info.value.code, info.value.message) == (-2010, "Order would immediately match and take.")
    assert free(engine, "USDT") == D("10000")

    placement = place(engine, "lm", Side.BUY, OrderType.LIMIT_MAKER, "1", "99.99")
    assert placement.order.status == VenueOrderStatus.NEW


def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    engine = make_engine(liquidity=D("0.4"))
    placement = place(engine, "ioc", Side.BUY, OrderType.LIMIT, "1", "101.00", TimeInForce.IOC)
    assert reports(placement.events) == [
        ("NEW", "NEW"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("EXPIRED", "EXPIRED"),
    ]
    assert placement.order.executed_quantity == D("0.4")
    assert locked(engine, "USDT") == 0
    assert free(engine, "USDT") == D("10000") - D("40")


def test_ioc_and_fok_that_do_not_cross_expire_without_trading() -> None:
    engine = make_engine()
    for tif in (TimeInForce.IOC, TimeInForce.FOK):
        placement = place(engine, f"o-{tif}", Side.BUY, OrderType.LIMIT, "1", "90.00", tif)
        assert reports(placement.events) == [("NEW", "NEW"), ("EXPIRED", "EXPIRED")]
    assert free(engine, "USDT") == D("10000")


def test_fok_is_all_or_nothing_against_the_tick_liquidity() -> None:
    engine = make_engine(liquidity=D("0.5"))
    refused = place(engine, "fok1", Side.BUY, OrderType.LIMIT, "1", "101.00", TimeInForce.FOK)
    assert refused.trades == ()
    assert refused.order.status == VenueOrderStatus.EXPIRED
    filled = place(engine, "fok2", Side.BUY, OrderType.LIMIT, "0.5", "101.00", TimeInForce.FOK)
    assert filled.order.status == VenueOrderStatus.FILLED


# -- partial fills ---------------------------------------------------------------------------


def test_liquidity_per_tick_gives_partial_fills_until_filled() -> None:
    engine = make_engine(liquidity=D("0.3"))
    place(engine, "p", Side.BUY, OrderType.LIMIT, "1", "95.00")
    statuses = []
    for step in range(4):
        events = engine.on_price("BTCUSDT", D("94.00") - step)
        statuses += reports(events)
    assert statuses == [
        ("TRADE", "PARTIALLY_FILLED"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("TRADE", "FILLED"),
    ]
    trades = engine.trades(ACCOUNT)
    assert [t.quantity for t in trades] == [D("0.3"), D("0.3"), D("0.3"), D("0.1")]
    assert [t.trade_id for t in trades] == [1, 2, 3, 4]
    order = engine.get_order(ACCOUNT, symbol="BTCUSDT", client_order_id="p")
    assert (order.executed_quantity, order.cumulative_quote) == (D("1"), D("95"))
    assert locked(engine, "USDT") == 0


def test_resting_orders_share_the_tick_by_best_price_then_age() -> None:
    engine = make_engine(liquidity=D("1"))
    place(engine, "older-lower", Side.BUY, OrderType.LIMIT, "1", "95.00")
    place(engine, "newer-higher", Side.BUY, OrderType.LIMIT, "1", "96.00")
    place(engine, "newest-higher", Side.BUY, OrderType.LIMIT, "1", "96.00")
    events = engine.on_price("BTCUSDT", D("90.00"))
    filled = [e.order.client_order_id for e in events if isinstance(e, ExecutionReport)]
    assert filled == ["newer-higher"]


def test_market_order_beyond_the_tick_liquidity_expires_the_remainder() -> None:
    engine = make_engine(liquidity=D("0.25"))
    placement = place(engine, "m", Side.SELL, OrderType.MARKET, "1")
    assert reports(placement.events) == [
        ("NEW", "NEW"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("EXPIRED", "EXPIRED"),
    ]
    assert free(engine, "BTC") == D("9.75")
    assert locked(engine, "BTC") == 0


# -- candles ---------------------------------------------------------------------------------


def test_candle_path_rule() -> None:
    assert candle_path(D(10), D(12), D(9), D(11)) == (D(10), D(9), D(12), D(11))
    assert candle_path(D(10), D(12), D(9), D(10)) == (D(10), D(9), D(12), D(10))
    assert candle_path(D(10), D(12), D(9), D("9.5")) == (D(10), D(12), D(9), D("9.5"))


@pytest.mark.parametrize(
    ("close", "first"),
    [("101.00", "buy"), ("99.00", "sell")],  # a rising candle dips first, a falling one rises first
)
def test_on_candle_fills_in_path_order(close: str, first: str) -> None:
    engine = make_engine()
    place(engine, "buy", Side.BUY, OrderType.LIMIT, "1", "95.00")
    place(engine, "sell", Side.SELL, OrderType.LIMIT, "1", "105.00")
    events = engine.on_candle("BTCUSDT", D("100.00"), D("106.00"), D("94.00"), D(close))
    order = [e.order.client_order_id for e in events if isinstance(e, ExecutionReport)]
    assert order[0] == first
    assert sorted(order) == ["buy", "sell"]
    assert engine.price("BTCUSDT") == D(close)


# -- cancels, queries, ids ---------------------------------------------------------------------


def test_cancel_releases_the_lock_and_reports_both_client_ids() -> None:
    engine = make_engine()
    place(engine, "c1", Side.BUY, OrderType.LIMIT, "1", "90.00")
    cancellation = engine.cancel_order(
        ACCOUNT, symbol="BTCUSDT", client_order_id="c1", cancel_client_order_id="cx"
    )
    assert cancellation.order.status == VenueOrderStatus.CANCELED
    report = cancellation.events[0]
    assert isinstance(report, ExecutionReport)
    assert (report.execution_type, report.client_order_id, report.orig_client_order_id) == (
        ExecutionType.CANCELED,
        "cx",
        "c1",
    )
    assert (free(engine, "USDT"), locked(engine, "USDT")) == (D("10000"), D(0))

    with pytest.raises(EngineError) as again:
        engine.cancel_order(ACCOUNT, symbol="BTCUSDT", client_order_id="c1")
    assert (again.value.code, again.value.message) == (-2011, "Unknown order sent.")


def test_unknown_orders_and_symbols() -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as missing:
        engine.get_order(ACCOUNT, symbol="BTCUSDT", client_order_id="nope")
    assert (missing.value.code, missing.value.message) == (-2013, "Order does not exist.")
    with pytest.raises(EngineError) as symbol:
        place(engine, "x", Side.BUY, OrderType.MARKET, "1", symbol="DOGEUSDT")
    assert symbol.value.code == -1121
    place(engine, "mine", Side.BUY, OrderType.LIMIT, "1", "90.00")
    with pytest.raises(EngineError):
        engine.get_order("someone-else", symbol="BTCUSDT", client_order_id="mine")


def test_duplicate_client_order_id_is_refused_only_among_open_orders() -> None:
    engine = make_engine()
    place(engine, "dup", Side.BUY, OrderType.LIMIT, "1", "90.00")
    with pytest.raises(EngineError) as info:
        place(engine, "dup", Side.BUY, OrderType.LIMIT, "1", "91.00")
    assert (info.value.code, info.value.message) == (-2010, "Duplicate order sent.")
    engine.cancel_order(ACCOUNT, symbol="BTCUSDT", client_order_id="dup")
    reused = place(engine, "dup", Side.BUY, OrderType.LIMIT, "1", "92.00")
    assert engine.get_order(ACCOUNT, symbol="BTCUSDT", client_order_id="dup") == reused.order


def test_order_ids_are_global_and_trade_ids_per_symbol() -> None:
    engine = make_engine()
    a = place(engine, "a", Side.BUY, OrderType.MARKET, "1")
    b = place(engine, "b", Side.BUY, OrderType.MARKET, "1", symbol="ETHUSDT")
    c = place(engine, "c", Side.BUY, OrderType.MARKET, "1")
    assert [p.order.order_id for p in (a, b, c)] == [1, 2, 3]
    assert [p.trades[0].trade_id for p in (a, b, c)] == [1, 1, 2]


def test_insufficient_balance_is_refused_without_side_effects() -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        place(engine, "big", Side.BUY, OrderType.LIMIT, "102", "99.00")
    assert (info.value.code, info.value.message) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    with pytest.raises(EngineError):
        place(engine, "big", Side.SELL, OrderType.MARKET, "10.00001")
    assert engine.balances(ACCOUNT)["USDT"].free == D("10000")
    assert engine.open_orders(ACCOUNT) == []
    with pytest.raises(EngineError) as stranger:
        engine.place_order(
            "stranger",
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            client_order_id="x",
            quantity=D("1"),
        )
    assert stranger.value.code == -2010


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "price", "code", "message"),
    [
        ("1", "95.001", -1013, "Filter failure: PRICE_FILTER"),
        ("1.000001", "95.00", -1013, "Filter failure: LOT_SIZE"),
        ("0.00001", "95.00", -1013, "Filter failure: NOTIONAL"),
        ("1", "95.000000001", -1111, "Parameter 'price' has too much precision."),
        ("1.000000001", "95.00", -1111, "Parameter 'quantity' has too much precision."),
        ("0", "95.00", -1013, "Invalid quantity."),
    ],
)
def test_filter_failures_use_binance_codes(qty: str, price: str, code: int, message: str) -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        place(engine, "f", Side.BUY, OrderType.LIMIT, qty, price)
    assert (info.value.code, info.value.message) == (code, message)


def test_market_notional_uses_the_current_price() -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        place(engine, "m", Side.BUY, OrderType.MARKET, "0.04")  # 4 USDT < 5
    assert info.value.message == "Filter failure: NOTIONAL"


@pytest.mark.parametrize(
    ("order_type", "price", "tif", "code"),
    [
        (OrderType.LIMIT, None, TimeInForce.GTC, -1102),
        (OrderType.LIMIT, "95.00", None, -1102),
        (OrderType.MARKET, "95.00", None, -1106),
        (OrderType.MARKET, None, TimeInForce.GTC, -1106),
        (OrderType.LIMIT_MAKER, "95.00", TimeInForce.GTC, -1106),
    ],
)
def test_mandatory_and_forbidden_parameters(order_type: OrderType, price: str | None, tif, code: int) -> None:
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        engine.place_order(
            ACCOUNT,
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=order_type,
            client_order_id="p",
            quantity=D("1"),
            price=D(price) if price else None,
            time_in_force=tif,
        )
    assert info.value.code == code


def test_commission_is_rounded_half_up_to_8_decimals() -> None:
    engine = MatchingEngine(fees=FeeSchedule(maker=D("0.00075"), taker=D("0.00075")))
    engine.add_symbol(BTCUSDT, price=D("1000000.00"))
    engine.open_account(ACCOUNT, {"USDT": D("100")})
    placement = place(engine, "tiny", Side.BUY, OrderType.MARKET, "0.00001")  # 7.5e-9 BTC fee
    assert placement.trades[0].commission == D("0.00000001")


# -- determinism and invariants (hypothesis) ---------------------------------------------------

_op = st.one_of(
    st.tuples(
        st.just("limit"),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 300),  # quantity in steps of 0.01
        st.integers(8000, 12000),  # price in ticks
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    ),
    st.tuples(st.just("market"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 300)),
    st.tuples(st.just("price"), st.integers(8000, 12000)),
    st.tuples(st.just("candle"), st.integers(8000, 12000), st.integers(0, 500), st.integers(0, 500)),
    st.tuples(st.just("cancel"), st.integers(1, 40)),
)


def _run(ops: list[tuple], liquidity: Decimal | None) -> tuple[MatchingEngine, list]:
    engine = MatchingEngine(fees=FEES)
    engine.add_symbol(BTCUSDT, price=D("100.00"), liquidity_per_tick=liquidity)
    engine.open_account(ACCOUNT, {"USDT": D("1000"), "BTC": D("5")})
    events: list = []
    cent, tick = D("0.01"), BTCUSDT.tick_size
    for now, op in enumerate(ops, start=1):
        try:
            if op[0] == "limit":
                _, side, qty, price, tif = op
                events += engine.place_order(
                    ACCOUNT,
                    symbol="BTCUSDT",
                    side=side,
                    order_type=OrderType.LIMIT,
                    client_order_id=f"o{now}",
                    quantity=qty * cent,
                    price=price * tick,
                    time_in_force=tif,
                    now_ms=now,
                ).events
            elif op[0] == "market":
                _, side, qty = op
                events += engine.place_order(
                    ACCOUNT,
                    symbol="BTCUSDT",
                    side=side,
                    order_type=OrderType.MARKET,
                    client_order_id=f"o{now}",
                    quantity=qty * cent,
                    now_ms=now,
                ).events
            elif op[0] == "price":
                events += engine.on_price("BTCUSDT", op[1] * tick, now_ms=now)
            elif op[0] == "candle":
                _, o, up, down = op
                high, low = (o + up) * tick, max(1, o - down) * tick
                close = (low + high) / 2
                events += engine.on_candle("BTCUSDT", o * tick, high, low, close.quantize(tick), now_ms=now)
            else:
                events += engine.cancel_order(ACCOUNT, symbol="BTCUSDT", order_id=op[1], now_ms=now).events
        except EngineError as exc:
            events.append((exc.code, exc.message))
    return engine, events


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_op, max_size=40), liquidity=st.sampled_from([None, D("0.5"), D("1.27")]))
def test_same_inputs_same_events_and_the_books_balance(ops: list[tuple], liquidity: Decimal | None) -> None:
    engine, events = _run(ops, liquidity)
    _again, events_again = _run(ops, liquidity)
    assert events == events_again

    balances = engine.balances(ACCOUNT)
    for b in balances.values():
        assert b.free >= 0
        assert b.locked >= 0

    # Locks are exactly what the open orders may still spend.
    open_orders = engine.open_orders(ACCOUNT)
    assert balances["USDT"].locked == sum(
        (o.remaining * o.lock_price for o in open_orders if o.side == Side.BUY), D(0)
    )
    assert balances["BTC"].locked == sum((o.remaining for o in open_orders if o.side == Side.SELL), D(0))

    # Every change of the totals is explained by the trade ledger.
    change: dict[str, Decimal] = defaultdict(Decimal)
    for t in engine.trades(ACCOUNT):
        sign = 1 if t.side == Side.BUY else -1
        change["BTC"] += sign * t.quantity
        change["USDT"] -= sign * t.quote_quantity
        change[t.commission_asset] -= t.commission
    assert balances["USDT"].free + balances["USDT"].locked == D("1000") + change["USDT"]
    assert balances["BTC"].free + balances["BTC"].locked == D("5") + change["BTC"]

    # Orders agree with their trades.
    for order in engine.orders(ACCOUNT, "BTCUSDT"):
        fills = [t for t in engine.trades(ACCOUNT) if t.order_id == order.order_id]
        assert order.executed_quantity == sum((t.quantity for t in fills), D(0))
        assert order.cumulative_quote == sum((t.quote_quantity for t in fills), D(0))
        assert order.executed_quantity <= order.quantity
