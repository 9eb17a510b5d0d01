"""Snapshots for the invariant checker: our books from the database, the venue's ledger from
the simulator (its own state, not its API: the checker must not depend on what it checks)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from apps.exchange.selectors import get_symbol_filters
from apps.exchange.simulator.server import SimulatorServer
from apps.execution.models import ExchangeAccount, Fill, Order, OrderEvent
from apps.portfolio.models import Balance, Position

from .invariants import AccountBooks, BookFill, BookOrder, VenueOrder, VenueTrade, from_ms


def account_books(
    sim: SimulatorServer, account: ExchangeAccount, *, api_key: str, initial_balances: dict[str, Decimal]
) -> AccountBooks:
    symbols = sorted(
        set(Order.objects.filter(account=account).values_list("symbol", flat=True))
        | {t.symbol for t in sim.exchange.trades(api_key)}
        | {f.symbol for f in sim.exchange.symbols()}
    )
    assets = {}
    for symbol in symbols:
        filters = get_symbol_filters(exchange=account.exchange, symbol=symbol)
        if filters is not None:
            assets[symbol] = (filters.base_asset, filters.quote_asset)
    return AccountBooks(
        label=f"account-{account.pk}",
        assets=assets,
        initial_balances=dict(initial_balances),
        venue_trades=[
            VenueTrade(
                t.symbol,
                t.trade_id,
                t.client_order_id,
                str(t.side),
                t.price,
                t.quantity,
                t.quote_quantity,
                t.commission,
                t.commission_asset,
            )
            for t in sim.exchange.trades(api_key)
        ],
        venue_orders=[
            VenueOrder(o.symbol, o.client_order_id, str(o.status), o.executed_quantity, from_ms(o.created_ms))
            for symbol in symbols
            for o in sim.exchange.all_orders(api_key, symbol)
        ],
        venue_balances={b.asset: b.free + b.locked for b in sim.exchange.balances(api_key)},
        fills=[
            BookFill(
                f.symbol,
                f.exchange_fill_id,
                f.order.client_order_id,
                f.price,
                f.quantity,
                f.commission,
                f.commission_asset,
            )
            for f in Fill.objects.filter(account=account).select_related("order")
        ],
        orders=_orders(account),
        positions=dict(Position.objects.filter(account=account).values_list("symbol", "quantity")),
        balances=dict(Balance.objects.filter(account=account).values_list("asset", "derived_total")),
    )


def _orders(account: ExchangeAccount) -> list[BookOrder]:
    attempts: dict[int, list[datetime]] = defaultdict(list)
    events = OrderEvent.objects.filter(order__account=account, kind=OrderEvent.Kind.SUBMISSION_ATTEMPT)
    for order_id, at in events.values_list("order_id", "created_at"):
        attempts[order_id].append(at)
    return [
        BookOrder(
            o.symbol, o.client_order_id, o.status, o.filled_quantity, tuple(attempts[o.pk]), o.is_external
        )
        for o in Order.objects.filter(account=account)
    ]
