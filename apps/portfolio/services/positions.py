"""Positions from fills: average cost, realized PnL, fees converted to the quote asset.

Each fill locks its position row (`SELECT … FOR UPDATE`), so concurrent consumers serialize
on it and never lose an update; every update bumps `version` and writes a `PositionUpdate`
(unique per fill) with the fee conversion it used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from django.db import IntegrityError, transaction
from prometheus_client import Counter

from apps.core.domain import Side
from apps.core.errors import ApplicationError, ErrorCode
from apps.exchange.selectors import get_symbol_filters
from apps.execution.models import ExchangeAccount
from apps.portfolio.accounting import LotState, apply_trade, q18
from apps.portfolio.models import BalanceFlow, Mark, Position, PositionUpdate

from .balances import Flow, apply_fill_flows

logger = logging.getLogger(__name__)

POSITION_UPDATES = Counter("tradingbot_portfolio_position_updates_total", "Fills applied to positions")
FEES_UNCONVERTED = Counter(
    "tradingbot_portfolio_fees_unconverted_total", "Commissions kept in their own asset (no conversion rate)"
)


class UnknownInstrument(ApplicationError):
    """The fill's symbol has no known base/quote assets yet; the relay retries later."""

    default_code = ErrorCode.UNKNOWN_SYMBOL


@dataclass(frozen=True, slots=True)
class FillRecorded:
    """A fill as execution's `fill.recorded` event carries it."""

    fill_id: int
    order_id: int
    account_id: int
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class FeeConversion:
    fee_quote: Decimal | None  # None: no rate known, the fee stays in its own asset
    rate: Decimal | None
    source: PositionUpdate.FeeSource
    rate_symbol: str = ""
    rate_as_of: datetime | None = None


def apply_fill_to_position(*, fill: FillRecorded, event_id: int | None = None) -> PositionUpdate | None:
    """Apply one fill to its position; None when this fill was already applied."""
    with transaction.atomic():
        position = _lock_position(fill.account_id, fill.symbol)
        if PositionUpdate.objects.filter(fill_id=fill.fill_id).exists():
            logger.info("fill %s already applied to the position; skipped", fill.fill_id)
            return None
        before = LotState(
            quantity=position.quantity, cost_basis=position.cost_basis, realized_pnl=position.realized_pnl
        )
        effect = apply_trade(
            before, side=fill.side, quantity=fill.quantity, quote_quantity=fill.quote_quantity
        )
        fee = convert_fee(
            exchange=_exchange_of(fill.account_id),
            commission=fill.commission,
            asset=fill.commission_asset,
            base_asset=position.base_asset,
            quote_asset=position.quote_asset,
            price=fill.price,
        )
        after = effect.state
        position.quantity = after.quantity
        position.cost_basis = after.cost_basis
        position.average_price = after.average_price
        position.realized_pnl = after.realized_pnl
        if fee.fee_quote is not None:
            position.fees_paid += fee.fee_quote
        else:
            unconverted = dict(position.unconverted_fees)
            unconverted[fill.commission_asset] = str(
                Decimal(unconverted.get(fill.commission_asset, "0")) + fill.commission
            )
            position.unconverted_fees = unconverted
            FEES_UNCONVERTED.inc()
            logger.warning(
                "no rate to convert %s %s of fill %s into %s; kept unconverted",
                fill.commission,
                fill.commission_asset,
                fill.fill_id,
                position.quote_asset,
            )
        position.fills_count += 1
        if position.last_fill_at is None or fill.executed_at > position.last_fill_at:
            position.last_fill_at = fill.executed_at
        position.version += 1
        position.save()
        update = PositionUpdate.objects.create(
            position=position,
            event_id=event_id,
            fill_id=fill.fill_id,
            order_id=fill.order_id,
            side=fill.side,
            quantity=fill.quantity,
            price=fill.price,
            quote_quantity=fill.quote_quantity,
            commission=fill.commission,
            commission_asset=fill.commission_asset,
            fee_quote=fee.fee_quote,
            fee_rate=fee.rate,
            fee_rate_source=fee.source,
            fee_rate_symbol=fee.rate_symbol,
            fee_rate_as_of=fee.rate_as_of,
            realized_pnl=effect.realized_pnl,
            quantity_after=position.quantity,
            cost_basis_after=position.cost_basis,
            average_price_after=position.average_price,
            version_after=position.version,
            executed_at=fill.executed_at,
        )
        apply_fill_flows(
            account_id=fill.account_id,
            fill_id=fill.fill_id,
            executed_at=fill.executed_at,
            flows=_flows_of(fill, position),
        )
    POSITION_UPDATES.inc()
    return update


def convert_fee(
    *,
    exchange: str,
    commission: Decimal,
    asset: str,
    base_asset: str,
    quote_asset: str,
    price: Decimal,
) -> FeeConversion:
    """The commission in the quote asset: as is, at the fill price (base), or at a mark.

    A third asset (BNB) is converted at the latest mark of `<asset><quote>` or, inverted,
    `<quote><asset>`; with neither the fee is not converted (never dropped).
    """
    sources = PositionUpdate.FeeSource
    if not commission or not asset:
        return FeeConversion(fee_quote=Decimal(0), rate=None, source=sources.NONE)
    if asset == quote_asset:
        return FeeConversion(fee_quote=commission, rate=Decimal(1), source=sources.QUOTE)
    if asset == base_asset:
        return FeeConversion(fee_quote=q18(commission * price), rate=price, source=sources.BASE_AT_FILL_PRICE)
    direct = Mark.objects.filter(exchange=exchange, symbol=f"{asset}{quote_asset}").first()
    if direct is not None:
        return FeeConversion(
            fee_quote=q18(commission * direct.price),
            rate=direct.price,
            source=sources.MARK,
            rate_symbol=direct.symbol,
            rate_as_of=direct.as_of,
        )
    inverse = Mark.objects.filter(exchange=exchange, symbol=f"{quote_asset}{asset}").first()
    if inverse is not None:
        with localcontext() as ctx:
            ctx.prec = 80
            return FeeConversion(
                fee_quote=q18(commission / inverse.price),
                rate=q18(1 / inverse.price),
                source=sources.INVERSE_MARK,
                rate_symbol=inverse.symbol,
                rate_as_of=inverse.as_of,
            )
    return FeeConversion(fee_quote=None, rate=None, source=sources.UNAVAILABLE)


def _flows_of(fill: FillRecorded, position: Position) -> list[Flow]:
    sign = Decimal(1) if fill.side == Side.BUY else Decimal(-1)
    flows = [
        Flow(position.base_asset, BalanceFlow.Kind.TRADE, sign * fill.quantity),
        Flow(position.quote_asset, BalanceFlow.Kind.TRADE, -sign * fill.quote_quantity),
    ]
    if fill.commission and fill.commission_asset:
        flows.append(Flow(fill.commission_asset, BalanceFlow.Kind.FEE, -fill.commission))
    return flows


def _exchange_of(account_id: int) -> str:
    return ExchangeAccount.objects.values_list("exchange", flat=True).get(pk=account_id)


def _lock_position(account_id: int, symbol: str) -> Position:
    position = Position.objects.select_for_update().filter(account_id=account_id, symbol=symbol).first()
    if position is not None:
        return position
    filters = get_symbol_filters(exchange=_exchange_of(account_id), symbol=symbol)
    if filters is None:
        raise UnknownInstrument(f"No instrument {symbol} is known; cannot tell its base and quote assets.")
    try:
        with transaction.atomic():
            Position.objects.create(
                account_id=account_id,
                symbol=symbol,
                base_asset=filters.base_asset,
                quote_asset=filters.quote_asset,
            )
    except IntegrityError:
        pass  # created concurrently; lock theirs
    return Position.objects.select_for_update().get(account_id=account_id, symbol=symbol)
