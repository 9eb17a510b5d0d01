from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from threading import Lock

import factory
from django.utils import timezone

from apps.core.domain import OrderStatus, OrderType, Side, SymbolFilters
from apps.core.tests.factories import UserFactory
from apps.exchange.adapter import SendGuard
from apps.exchange.domain import Kline, OrderRequest, VenueBalances, VenueOrder, VenueTrade
from apps.exchange.errors import OrderNotFound
from apps.exchange.models import Instrument
from apps.exchange.services import upsert_instrument
from apps.execution.models import ExchangeAccount, Order

BTCUSDT = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    max_qty=Decimal("9000"),
    min_notional=Decimal("5"),
)


def btcusdt() -> Instrument:
    return upsert_instrument(exchange="binance", filters=BTCUSDT)


class AccountFactory(factory.django.DjangoModelFactory[ExchangeAccount]):
    class Meta:
        model = ExchangeAccount

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"account-{n}")
    mode = ExchangeAccount.Mode.SIMULATED


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    class Meta:
        model = Order

    account = factory.SubFactory(AccountFactory)
    symbol = "BTCUSDT"
    side = Side.BUY
    order_type = OrderType.LIMIT
    time_in_force = "GTC"
    quantity = Decimal("1.00000")
    price = Decimal("30000.00")
    client_order_id = factory.Sequence(lambda n: f"test-{n}")
    status = OrderStatus.SUBMITTED
    submit_attempts = 1


@dataclass
class RecordingVenue:
    """An in-memory venue for tests of execution's own logic: records every command."""

    placed: list[OrderRequest] = field(default_factory=list)
    known: dict[str, VenueOrder] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    fail_place_with: Exception | None = None
    _lock: Lock = field(default_factory=Lock)

    def place_order(self, request: OrderRequest, *, guard: SendGuard | None = None) -> VenueOrder:
        if guard is not None:
            guard.clearance_ms(longest_ms=5000)  # as BinanceSpot, just before the request
        with self._lock:
            self.placed.append(request)
            if self.fail_place_with is not None:
                raise self.fail_place_with
            venue_order = VenueOrder(
                symbol=request.symbol,
                client_order_id=request.client_order_id,
                exchange_order_id=str(1000 + len(self.placed)),
                status=OrderStatus.NEW,
                executed_quantity=Decimal(0),
                cumulative_quote=Decimal(0),
            )
            self.known[request.client_order_id] = venue_order
            return venue_order

    def get_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        self.lookups.append(client_order_id)
        try:
            return self.known[client_order_id]
        except KeyError:
            raise OrderNotFound("Order does not exist.", venue_code=-2013) from None

    def open_orders(self, *, symbol: str | None = None) -> list[VenueOrder]:
        return [o for o in self.known.values() if symbol in (None, o.symbol)]

    def trades_since(
        self, *, symbol: str, from_trade_id: int, limit: int = 1000, start: datetime | None = None
    ) -> list[VenueTrade]:
        return []

    def balances(self) -> VenueBalances:
        return VenueBalances(balances=[], as_of=timezone.now())

    def symbol_filters(self, *, symbol: str) -> SymbolFilters:
        return BTCUSDT

    def klines(self, **kwargs: object) -> list[Kline]:
        return []

    def cancel_order(self, *, symbol: str, client_order_id: str) -> VenueOrder:
        self.canceled.append(client_order_id)
        venue_order = self.get_order(symbol=symbol, client_order_id=client_order_id)
        return VenueOrder(
            symbol=symbol,
            client_order_id=client_order_id,
            exchange_order_id=venue_order.exchange_order_id,
            status=OrderStatus.CANCELED,
            executed_quantity=venue_order.executed_quantity,
            cumulative_quote=venue_order.cumulative_quote,
        )
