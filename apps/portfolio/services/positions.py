"""Positions from fills: average cost, realized PnL, fees converted to the quote asset.

A commission paid in the base asset also leaves the position (sold at the fill's price, see
`accounting.apply_fill`), as it leaves the wallet: the position holds what the balance flows
say is held. `rebuild_positions` replays the stored updates under these rules.

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
from apps.portfolio.accounting import LotState, TradeEffect, apply_fill, q18
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
        fee = convert_fee(
            exchange=_exchange_of(fill.account_id),
            commission=fill.commission,
            asset=fill.commission_asset,
            base_asset=position.base_asset,
            quote_asset=position.quote_asset,
            price=fill.price,
        )
        effect = _effect(
            before,
            side=fill.side,
            quantity=fill.quantity,
            quote_quantity=fill.quote_quantity,
            commission=fill.commission,
            fee_source=fee.source,
            fee_quote=fee.fee_quote,
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


def rebuild_positions(*, account_id: int | None = None, dry_run: bool = False) -> list[str]:
    """Replay each position's stored updates under the current rules; the positions that changed.

    The inputs recorded per fill (side, quantities, commission and its conversion) are kept;
    the derived figures (quantity, cost basis, average price, realized PnL, and each update's
    `*_after` and `realized_pnl`) are recomputed. Fees, versions and balances are untouched.
    Idempotent; each position is locked while it is rebuilt, so fills keep flowing.
    """
    positions = Position.objects.order_by("id")
    if account_id is not None:
        positions = positions.filter(account_id=account_id)
    changed: list[str] = []
    for position_id in positions.values_list("id", flat=True):
        with transaction.atomic():
            position = Position.objects.select_for_update().get(pk=position_id)
            state = LotState()
            fixed: list[PositionUpdate] = []
            for update in position.updates.order_by("version_after", "id"):
                effect = _effect(
                    state,
                    side=update.side,
                    quantity=update.quantity,
                    quote_quantity=update.quote_quantity,
                    commission=update.commission,
                    fee_source=update.fee_rate_source,
                    fee_quote=update.fee_quote,
                )
                state = effect.state
                derived = (effect.realized_pnl, state.quantity, state.cost_basis, state.average_price)
                if derived != (
                    update.realized_pnl,
                    update.quantity_after,
                    update.cost_basis_after,
                    update.average_price_after,
                ):
                    (
                        update.realized_pnl,
                        update.quantity_after,
                        update.cost_basis_after,
                        update.average_price_after,
                    ) = derived
                    fixed.append(update)
            current = (position.quantity, position.cost_basis, position.average_price, position.realized_pnl)
            if not fixed and current == (
                state.quantity,
                state.cost_basis,
                state.average_price,
                state.realized_pnl,
            ):
                continue
            changed.append(
                f"account {position.account_id} {position.symbol}: quantity {position.quantity} -> "
                f"{state.quantity}, realized {position.realized_pnl} -> {state.realized_pnl}, "
                f"{len(fixed)} updates"
            )
            if dry_run:
                continue
            PositionUpdate.objects.bulk_update(
                fixed, ["realized_pnl", "quantity_after", "cost_basis_after", "average_price_after"]
            )
            position.quantity = state.quantity
            position.cost_basis = state.cost_basis
            position.average_price = state.average_price
            position.realized_pnl = state.realized_pnl
            position.save(
                update_fields=["quantity", "cost_basis", "average_price", "realized_pnl", "updated_at"]
            )
            logger.warning("position rebuilt: %s", changed[-1])
    return changed


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


def _effect(
    before: LotState,
    *,
    side: str,
    quantity: Decimal,
    quote_quantity: Decimal,
    commission: Decimal,
    fee_source: str,
    fee_quote: Decimal | None,
) -> TradeEffect:
    """What one fill does to the position: a base-asset commission leaves it with the fill."""
    in_base = fee_source == PositionUpdate.FeeSource.BASE_AT_FILL_PRICE
    return apply_fill(
        before,
        side=side,
        quantity=quantity,
        quote_quantity=quote_quantity,
        base_fee=commission if in_base else Decimal(0),
        base_fee_value=fee_quote if in_base and fee_quote is not None else Decimal(0),
    )


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
