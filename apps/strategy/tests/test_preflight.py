"""Preflight numbers, checked by hand against BTCUSDT's filters (tick 0.01, step 0.00001,
min notional 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.execution.tests.factories import BTCUSDT
from apps.strategy.configs import DcaConfig, GridConfig, StrategyKind, parse_config
from apps.strategy.plans import dca_orders, grid_level_prices, grid_orders
from apps.strategy.preflight import preflight, report_to_json

from .factories import dca_config, grid_config, store_candles, swing_config

D = Decimal


def _dca(**overrides: object) -> DcaConfig:
    config = parse_config(StrategyKind.DCA, dca_config(**overrides))
    assert isinstance(config, DcaConfig)
    return config


def _grid(**overrides: object) -> GridConfig:
    config = parse_config(StrategyKind.GRID, grid_config(**overrides))
    assert isinstance(config, GridConfig)
    return config


def test_dca_deal_by_hand() -> None:
    # base 10 quote, SO 20 quote, 3 SOs, deviation 2 %, step scale 2, volume scale 2, entry 30000
    orders = dca_orders(_dca(), entry_price=D(30000), filters=BTCUSDT)
    rows = [(o.role, o.index, o.deviation_pct, o.price, o.quantity, o.notional) for o in orders]
    assert rows == [
        ("base", 0, D(0), None, D("0.00033"), D("9.9")),  # 10/30000 = 0.000333.. -> step
        ("safety", 1, D(2), D(29400), D("0.00068"), D("19.992")),  # 20/29400 = 0.00068027
        ("safety", 2, D(6), D(28200), D("0.00141"), D("39.762")),  # 40/28200 = 0.00141843
        ("safety", 3, D(14), D(25800), D("0.00310"), D("79.98")),  # 80/25800 = 0.00310077
    ]
    assert all(o.accepted for o in orders)


def test_dca_prices_round_down_to_the_tick() -> None:
    orders = dca_orders(_dca(price_deviation_pct="1.333"), entry_price=D("30000.07"), filters=BTCUSDT)
    # 30000.07 * (1 - 0.01333) = 29600.1690669 -> 29600.16 (a buy never rounds up)
    assert orders[1].price == D("29600.16")


def test_dca_order_below_min_notional_is_rejected() -> None:
    orders = dca_orders(_dca(base_order_quote="4"), entry_price=D(30000), filters=BTCUSDT)
    base = orders[0]
    assert base.quantity == D("0.00013")
    assert base.problem is not None
    assert base.problem.code == "filter_min_notional"
    assert all(o.accepted for o in orders[1:])


def test_dca_quantity_rounding_to_zero_is_rejected() -> None:
    orders = dca_orders(_dca(base_order_quote="0.1"), entry_price=D(30000), filters=BTCUSDT)
    assert orders[0].quantity == 0
    assert orders[0].problem is not None
    assert orders[0].problem.code == "filter_lot_size"


@pytest.mark.django_db
def test_dca_report_totals(instrument) -> None:
    report = preflight(_dca(stop_loss_pct="10"), symbol="BTCUSDT", interval="1h", reference_price=D(30000))
    assert report.ok
    assert report.reference_source == "request"
    assert report.total_capital_quote == D("149.634")  # 9.9 + 19.992 + 39.762 + 79.98
    summary = report.summary
    assert summary["max_deviation_pct"] == D(14)
    assert summary["lowest_price"] == D(25800)
    average = D("149.634") / D("0.00552")  # quantities 0.00033 + 0.00068 + 0.00141 + 0.00310
    assert summary["average_entry_at_full_deal"] == average
    assert summary["take_profit_price_at_full_deal"] == average * D("1.01")
    assert summary["stop_loss_price_at_full_deal"] == average * D("0.9")
    body = report_to_json(report)
    assert body["total_capital_quote"] == "149.634"
    assert [o["price"] for o in body["orders"]] == [None, "29400", "28200", "25800"]
    assert body["rejected"] == []


def test_grid_arithmetic_by_hand() -> None:
    orders = grid_orders(_grid(), filters=BTCUSDT)
    assert [(o.price, o.quantity, o.notional) for o in orders] == [
        (D(20000), D("0.001"), D(20)),
        (D(25000), D("0.001"), D(25)),
        (D(30000), D("0.001"), D(30)),
        (D(35000), D("0.001"), D(35)),
        (D(40000), D("0.001"), D(40)),
    ]


def test_grid_geometric_levels() -> None:
    prices = grid_level_prices(_grid(lower_price="100", upper_price="400", levels=3, spacing="geometric"))
    assert prices == [D(100), D(200), D(400)]
    orders = grid_orders(
        _grid(lower_price="100", upper_price="1000", levels=4, spacing="geometric", quantity_per_level="1"),
        filters=BTCUSDT,
    )
    # ratio 10^(1/3) = 2.15443469..: 215.443469.. -> 215.44, 464.158883.. -> 464.15
    assert [o.price for o in orders] == [D(100), D("215.44"), D("464.15"), D(1000)]


def test_grid_total_investment_splits_over_every_level_but_the_top() -> None:
    config = _grid(
        lower_price="100", upper_price="200", levels=3, quantity_per_level=None, total_investment_quote="300"
    )
    orders = grid_orders(config, filters=BTCUSDT)
    # 300 / (100 + 150) = 1.2 per level
    assert [o.quantity for o in orders] == [D("1.2")] * 3
    assert [o.notional for o in orders] == [D(120), D(180), D(240)]


def test_grid_levels_collapsing_after_tick_rounding() -> None:
    config = _grid(lower_price="100", upper_price="100.03", levels=5, quantity_per_level="0.1")
    orders = grid_orders(config, filters=BTCUSDT)
    # 100, 100.0075, 100.015, 100.0225, 100.03 -> 100.00, 100.00, 100.01, 100.02, 100.03
    assert [o.price for o in orders] == [D(100), D(100), D("100.01"), D("100.02"), D("100.03")]
    assert [o.problem.code if o.problem else None for o in orders] == [
        None,
        "level_collapsed",
        None,
        None,
        None,
    ]


@pytest.mark.django_db
def test_grid_report_rejects_levels_below_min_notional(instrument) -> None:
    report = preflight(_grid(quantity_per_level="0.0002"), symbol="BTCUSDT", interval="1h")
    # notionals 4, 5, 6, 7, 8: only the bottom level is below 5 (the minimum itself is allowed)
    assert [o.notional for o in report.orders] == [D(4), D(5), D(6), D(7), D(8)]
    assert [o.index for o in report.rejected] == [0]
    assert report.rejected[0].problem is not None
    assert report.rejected[0].problem.code == "filter_min_notional"
    assert not report.ok
    assert report.total_capital_quote == D(22)  # 4 + 5 + 6 + 7: the top level only sells


@pytest.mark.django_db
def test_grid_report_totals_and_steps(instrument) -> None:
    report = preflight(_grid(), symbol="BTCUSDT", interval="1h")
    assert report.ok
    assert report.reference_price is None  # a grid needs none
    assert report.total_capital_quote == D(110)  # 20 + 25 + 30 + 35
    assert report.summary["max_step_pct"] == D(25)  # 20000 -> 25000
    assert report.summary["min_step_pct"] == (D(40000) / D(35000) - 1) * 100
    assert report.summary["collapsed_levels"] == 0


@pytest.mark.django_db
def test_reference_price_from_the_latest_closed_candle(instrument) -> None:
    store_candles(last_close_before=timezone.now(), close="31000")
    report = preflight(_dca(), symbol="BTCUSDT", interval="1h")
    assert report.reference_source == "candle"
    assert report.reference_price == D(31000)
    assert report.orders[1].price == D(30380)  # 31000 * 0.98


@pytest.mark.django_db
def test_dca_without_a_reference_price(instrument) -> None:
    report = preflight(_dca(), symbol="BTCUSDT", interval="1h")
    assert [p.code for p in report.problems] == ["no_reference_price"]
    assert not report.ok
    assert report.orders == ()


@pytest.mark.django_db
def test_unknown_symbol() -> None:
    report = preflight(_grid(), symbol="NOPEUSDT", interval="1h")
    assert [p.code for p in report.problems] == ["unknown_symbol"]
    assert not report.ok


@pytest.mark.django_db
def test_swing_entry_order(instrument) -> None:
    config = parse_config(StrategyKind.SWING, swing_config(sizing_value="100"))
    report = preflight(config, symbol="BTCUSDT", interval="1h", reference_price=D(30000))
    (order,) = report.orders
    assert order.quantity == D("0.00333")  # 100 / 30000 -> step
    assert order.notional == D("99.9")
    assert report.ok
