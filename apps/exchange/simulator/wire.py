"""Binance's JSON shapes for the engine's orders, trades and events.

Numbers go out as strings with (at least) 8 decimals, exactly like Binance ("0.00100000"), so
clients parse them straight into Decimal. Nothing here rounds: a value with more than 8
decimals (a quote amount of two 8-decimal factors) is written in full.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from apps.core.domain import SymbolFilters
from apps.exchange.matching import (
    AccountPosition,
    Balance,
    Event,
    ExecutionReport,
    FeeSchedule,
    Order,
    Trade,
)

JSON = dict[str, Any]
_EIGHT = Decimal("1e-8")
#: What exchangeInfo shows for a bound our filters leave open (0 disables it in SymbolFilters).
_NO_MAX_QTY = Decimal("9000000000")
_NO_MAX_NOTIONAL = Decimal("9000000000000")
NO_STP = "NONE"


def dec(value: Decimal) -> str:
    """A Decimal as Binance writes it: fixed point, 8 decimals unless it needs more."""
    with localcontext() as ctx:
        ctx.prec = 80
        normalized = value.normalize()
        exponent = normalized.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -8:
            return f"{value.quantize(_EIGHT):f}"
        return f"{normalized:f}"


def _tif(order: Order) -> str:
    """Binance reports MARKET and LIMIT_MAKER orders with timeInForce GTC."""
    return str(order.time_in_force or "GTC")


def _price(order: Order) -> str:
    return dec(order.price if order.price is not None else Decimal(0))


def order_ack(order: Order, transact_time: int) -> JSON:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": transact_time,
    }


def order_result(order: Order, transact_time: int) -> JSON:
    return {
        **order_ack(order, transact_time),
        "price": _price(order),
        "origQty": dec(order.quantity),
        "executedQty": dec(order.executed_quantity),
        "origQuoteOrderQty": dec(order.quote_order_qty),
        "cummulativeQuoteQty": dec(order.cumulative_quote),
        "status": str(order.status),
        "timeInForce": _tif(order),
        "type": str(order.order_type),
        "side": str(order.side),
        "workingTime": order.created_ms,
        "selfTradePreventionMode": NO_STP,
    }


def order_full(order: Order, transact_time: int, trades: tuple[Trade, ...]) -> JSON:
    return {
        **order_result(order, transact_time),
        "fills": [
            {
                "price": dec(t.price),
                "qty": dec(t.quantity),
                "commission": dec(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.trade_id,
            }
            for t in trades
        ],
    }


def order_query(order: Order) -> JSON:
    """GET /api/v3/order, openOrders and allOrders rows."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": _price(order),
        "origQty": dec(order.quantity),
        "executedQty": dec(order.executed_quantity),
        "cummulativeQuoteQty": dec(order.cumulative_quote),
        "status": str(order.status),
        "timeInForce": _tif(order),
        "type": str(order.order_type),
        "side": str(order.side),
        "stopPrice": dec(Decimal(0)),
        "icebergQty": dec(Decimal(0)),
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": order.is_working,
        "workingTime": order.created_ms,
        "origQuoteOrderQty": dec(order.quote_order_qty),
        "selfTradePreventionMode": NO_STP,
    }


def order_canceled(order: Order, cancel_client_order_id: str, transact_time: int) -> JSON:
    """DELETE /api/v3/order: `clientOrderId` is the cancel request's id, as on Binance."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_order_id,
        "transactTime": transact_time,
        "price": _price(order),
        "origQty": dec(order.quantity),
        "executedQty": dec(order.executed_quantity),
        "origQuoteOrderQty": dec(order.quote_order_qty),
        "cummulativeQuoteQty": dec(order.cumulative_quote),
        "status": str(order.status),
        "timeInForce": _tif(order),
        "type": str(order.order_type),
        "side": str(order.side),
        "selfTradePreventionMode": NO_STP,
    }


def my_trade(trade: Trade) -> JSON:
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": dec(trade.price),
        "qty": dec(trade.quantity),
        "quoteQty": dec(trade.quote_quantity),
        "commission": dec(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time_ms,
        "isBuyer": str(trade.side) == "BUY",
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def ledger_trade(trade: Trade) -> JSON:
    """The simulator's own ledger row: myTrades' keys, but Decimal values, for invariant checks."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "clientOrderId": trade.client_order_id,
        "side": str(trade.side),
        "price": trade.price,
        "qty": trade.quantity,
        "quoteQty": trade.quote_quantity,
        "commission": trade.commission,
        "commissionAsset": trade.commission_asset,
        "isMaker": trade.is_maker,
        "isBuyer": str(trade.side) == "BUY",
        "time": trade.time_ms,
    }


def balance(b: Balance) -> JSON:
    return {"asset": b.asset, "free": dec(b.free), "locked": dec(b.locked)}


def account(balances: list[Balance], fees: FeeSchedule, update_time: int) -> JSON:
    bps = Decimal(10000)
    return {
        "makerCommission": int(fees.maker * bps),
        "takerCommission": int(fees.taker * bps),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": dec(fees.maker),
            "taker": dec(fees.taker),
            "buyer": dec(Decimal(0)),
            "seller": dec(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": update_time,
        "accountType": "SPOT",
        "balances": [balance(b) for b in balances],
        "permissions": ["SPOT"],
        "uid": 0,
    }


def symbol_info(filters: SymbolFilters) -> JSON:
    lot = {
        "minQty": dec(filters.min_qty),
        "maxQty": dec(filters.max_qty or _NO_MAX_QTY),
        "stepSize": dec(filters.step_size),
    }
    return {
        "symbol": filters.symbol,
        "status": "TRADING",
        "baseAsset": filters.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": filters.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": dec(filters.min_price),
                "maxPrice": dec(filters.max_price),
                "tickSize": dec(filters.tick_size),
            },
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "MARKET_LOT_SIZE", **lot},
            {
                "filterType": "NOTIONAL",
                "minNotional": dec(filters.min_notional),
                "applyMinToMarket": True,
                "maxNotional": dec(filters.max_notional or _NO_MAX_NOTIONAL),
                "applyMaxToMarket": True,
                "avgPriceMins": 0,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": NO_STP,
        "allowedSelfTradePreventionModes": [NO_STP],
    }


def execution_report(report: ExecutionReport) -> JSON:
    order, trade = report.order, report.trade
    return {
        "e": "executionReport",
        "E": report.event_time,
        "s": order.symbol,
        "c": report.client_order_id,
        "S": str(order.side),
        "o": str(order.order_type),
        "f": _tif(order),
        "q": dec(order.quantity),
        "p": _price(order),
        "P": dec(Decimal(0)),
        "F": dec(Decimal(0)),
        "g": -1,
        "C": report.orig_client_order_id,
        "x": str(report.execution_type),
        "X": str(order.status),
        "r": report.reject_reason,
        "i": order.order_id,
        "l": dec(trade.quantity if trade else Decimal(0)),
        "z": dec(order.executed_quantity),
        "L": dec(trade.price if trade else Decimal(0)),
        "n": dec(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": report.event_time,
        "t": trade.trade_id if trade else -1,
        "I": 0,
        "w": order.is_working,
        "m": trade.is_maker if trade else False,
        "M": False,
        "O": order.created_ms,
        "Z": dec(order.cumulative_quote),
        "Y": dec(trade.quote_quantity if trade else Decimal(0)),
        "Q": dec(order.quote_order_qty),
        "W": order.created_ms,
        "V": NO_STP,
    }


def account_position(position: AccountPosition) -> JSON:
    return {
        "e": "outboundAccountPosition",
        "E": position.event_time,
        "u": position.event_time,
        "B": [{"a": b.asset, "f": dec(b.free), "l": dec(b.locked)} for b in position.balances],
    }


def user_event(event: Event) -> JSON:
    if isinstance(event, ExecutionReport):
        return execution_report(event)
    return account_position(event)
