"""Request parameters parsed the way Binance parses them, with Binance's error codes.

Amounts are parsed from their strings straight into Decimal (never float).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from apps.core.domain import OrderType, Side, TimeInForce

from .errors import BinanceError, illegal_characters, invalid_value, mandatory

Params = Mapping[str, str]

CLIENT_ORDER_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")


def required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def optional_decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise illegal_characters(name, _DECIMAL.pattern)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise illegal_characters(name, _DECIMAL.pattern) from None


def optional_int(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _INTEGER.match(raw):
        raise illegal_characters(name, "^[0-9]{1,20}$")
    return int(raw)


def side(params: Params) -> Side:
    raw = required(params, "side")
    if raw not in Side.values:
        raise invalid_value(-1117, "Invalid side.")
    return Side(raw)


def order_type(params: Params) -> OrderType:
    raw = required(params, "type")
    if raw not in OrderType.values:
        raise invalid_value(-1116, "Invalid orderType.")
    return OrderType(raw)


def time_in_force(params: Params) -> TimeInForce | None:
    raw = params.get("timeInForce")
    if not raw:
        return None
    if raw not in TimeInForce.values:
        raise invalid_value(-1115, "Invalid timeInForce.")
    return TimeInForce(raw)


def client_order_id(params: Params, name: str) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    if not CLIENT_ORDER_ID.match(raw):
        raise illegal_characters(name, CLIENT_ORDER_ID.pattern)
    return raw


def limit(params: Params, *, default: int, maximum: int) -> int:
    value = optional_int(params, "limit")
    if value is None:
        return default
    if value <= 0 or value > maximum:
        raise invalid_value(-1130, "Data sent for parameter 'limit' is not valid.")
    return value


def order_reference(params: Params) -> tuple[int | None, str | None]:
    """`orderId` or `origClientOrderId` (at least one), for GET/DELETE /api/v3/order."""
    order_id = optional_int(params, "orderId")
    orig = client_order_id(params, "origClientOrderId")
    if order_id is None and orig is None:
        raise BinanceError(
            400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, orig


def symbol_list(params: Params) -> list[str] | None:
    """exchangeInfo's `symbol=X` or `symbols=["X","Y"]`; None for all symbols."""
    if params.get("symbol"):
        return [params["symbol"]]
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise illegal_characters("symbols", '["SYMBOL",...]') from None
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise illegal_characters("symbols", '["SYMBOL",...]')
    return parsed
