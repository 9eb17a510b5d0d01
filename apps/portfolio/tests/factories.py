from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory

from apps.core.domain import Side, SymbolFilters
from apps.exchange.services import upsert_instrument
from apps.execution import services as execution
from apps.execution.models import ExchangeAccount, Order, ReconciliationRun
from apps.execution.services import FillReport
from apps.execution.services.outbox import OutboxMessage
from apps.execution.tests.factories import BTCUSDT, AccountFactory, OrderFactory
from apps.portfolio.models import Balance, Mark, PnlSnapshot, Position

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

ETHBTC = SymbolFilters(
    symbol="ETHBTC",
    base_asset="ETH",
    quote_asset="BTC",
    tick_size=Decimal("0.00001"),
    step_size=Decimal("0.0001"),
)
BNBUSDT = SymbolFilters(
    symbol="BNBUSDT",
    base_asset="BNB",
    quote_asset="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"),
)

_trade_ids = itertools.count(1)
_event_ids = itertools.count(10_000_000)


def instruments() -> None:
    for filters in (BTCUSDT, ETHBTC, BNBUSDT):
        upsert_instrument(exchange="binance", filters=filters)


class PositionFactory(factory.django.DjangoModelFactory[Position]):
    class Meta:
        model = Position

    account = factory.SubFactory(AccountFactory)
    symbol = "BTCUSDT"
    base_asset = "BTC"
    quote_asset = "USDT"


class BalanceFactory(factory.django.DjangoModelFactory[Balance]):
    class Meta:
        model = Balance

    account = factory.SubFactory(AccountFactory)
    asset = "USDT"


class MarkFactory(factory.django.DjangoModelFactory[Mark]):
    class Meta:
        model = Mark
        django_get_or_create = ("exchange", "symbol")

    exchange = "binance"
    symbol = "BTCUSDT"
    price = Decimal("30000")
    as_of = T0
    source = "test"


class PnlSnapshotFactory(factory.django.DjangoModelFactory[PnlSnapshot]):
    class Meta:
        model = PnlSnapshot

    account = factory.SubFactory(AccountFactory)
    date = T0.date()
    valuation_asset = "USDT"
    realized_pnl = Decimal(0)
    unrealized_pnl = Decimal(0)
    fees = Decimal(0)
    net_pnl = Decimal(0)
    gross_exposure = Decimal(0)
    net_exposure = Decimal(0)
    is_stale = False
    taken_at = T0


def order_for(account: ExchangeAccount, side: str, quantity: str | Decimal, symbol: str = "BTCUSDT") -> Order:
    return OrderFactory.create(account=account, side=side, quantity=Decimal(quantity), symbol=symbol)


def fill(
    order: Order,
    qty: str | Decimal,
    price: str | Decimal,
    *,
    commission: str | Decimal = "0",
    asset: str = "",
    executed_at: datetime = T0,
    trade_id: int | None = None,
) -> int:
    """Record a fill through execution (which writes `fill.recorded`); returns the fill id."""
    q, p = Decimal(qty), Decimal(price)
    result = execution.apply_fill(
        report=FillReport(
            order_id=order.pk,
            exchange_fill_id=trade_id if trade_id is not None else next(_trade_ids),
            price=p,
            quantity=q,
            quote_quantity=q * p,
            executed_at=executed_at,
            commission=Decimal(commission),
            commission_asset=asset,
        )
    )
    assert result.fill is not None
    return result.fill.pk


def fill_message(
    *,
    account_id: int,
    side: Side | str,
    qty: str | Decimal,
    price: str | Decimal,
    symbol: str = "BTCUSDT",
    commission: str = "0",
    asset: str = "",
    executed_at: datetime = T0,
    fill_id: int | None = None,
    event_id: int | None = None,
) -> OutboxMessage:
    """A `fill.recorded` message as the relay would hand it over (payload as execution writes it)."""
    q, p = Decimal(qty), Decimal(price)
    fid = fill_id if fill_id is not None else next(_trade_ids)
    return OutboxMessage(
        id=event_id if event_id is not None else next(_event_ids),
        aggregate_type="account",
        aggregate_id=str(account_id),
        event_type="fill.recorded",
        payload={
            "fill_id": fid,
            "order_id": fid,
            "account_id": account_id,
            "client_order_id": f"c-{fid}",
            "strategy_id": None,
            "symbol": symbol,
            "side": str(side),
            "exchange_fill_id": fid,
            "price": str(p),
            "quantity": str(q),
            "quote_quantity": str(q * p),
            "commission": commission,
            "commission_asset": asset,
            "is_maker": False,
            "executed_at": executed_at.isoformat(),
        },
        created_at=executed_at,
    )


def balance_message(
    *,
    account_id: int,
    event_time: datetime,
    balances: dict[str, tuple[str, str]],
    event_id: int | None = None,
    **extra: object,
) -> OutboxMessage:
    return OutboxMessage(
        id=event_id if event_id is not None else next(_event_ids),
        aggregate_type="account",
        aggregate_id=str(account_id),
        event_type="balance.reported",
        payload={
            "account_id": account_id,
            "event_time": event_time.isoformat(),
            "balances": [{"asset": a, "free": f, "locked": lk} for a, (f, lk) in balances.items()],
            **extra,
        },
        created_at=event_time,
    )


def reconciled(account: ExchangeAccount, at: datetime) -> ReconciliationRun:
    return ReconciliationRun.objects.create(
        account=account, status=ReconciliationRun.Status.SUCCEEDED, finished_at=at
    )


def relay() -> int:
    return execution.relay_outbox()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
