"""Binance errors → the venue error tree, at the edge (`raise … from e`)."""

from __future__ import annotations

import requests
from binance.exceptions import BinanceAPIException, BinanceRequestException

from apps.exchange.errors import (
    FatalVenueError,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    TemporaryVenueError,
    VenueError,
)

UNKNOWN_ORDER = -2011
NO_SUCH_ORDER = -2013
TIMESTAMP_OUTSIDE_WINDOW = -1021
TIMEOUT_UNKNOWN = -1007
TOO_MUCH_WEIGHT = -1003
TOO_MANY_ORDERS = -1015
_AUTH = {-2014, -2015, -1022, -1002}
_INVALID_ORDER = {-1013, -2010, -1111, -1100, -1102, -1104, -1106, -1116, -1117, -1013}


class ClockSkew(FatalVenueError):
    """Our clock disagrees with the venue's beyond recvWindow even after resynchronising."""


def translate(exc: Exception) -> VenueError:
    if isinstance(exc, BinanceAPIException):
        return _from_api(exc)
    if isinstance(exc, requests.RequestException | BinanceRequestException):
        return TemporaryVenueError(f"network error: {exc}")
    raise exc


def _from_api(exc: BinanceAPIException) -> VenueError:
    code, message, status = exc.code, str(exc.message), exc.status_code
    if status in (429, 418) or code in (TOO_MUCH_WEIGHT, TOO_MANY_ORDERS):
        return RateLimited(message, retry_after=_retry_after(exc), venue_code=code)
    if status >= 500 or code == TIMEOUT_UNKNOWN:
        return TemporaryVenueError(message or f"HTTP {status}", venue_code=code)
    error_class: type[VenueError] = TemporaryVenueError
    if code in (UNKNOWN_ORDER, NO_SUCH_ORDER):
        error_class = OrderNotFound
    elif code == TIMESTAMP_OUTSIDE_WINDOW:
        error_class = ClockSkew
    elif code in _AUTH or status in (401, 403):
        error_class = FatalVenueError
    elif code in _INVALID_ORDER or status == 400:
        error_class = InvalidOrder
    return error_class(message, venue_code=code)


def _retry_after(exc: BinanceAPIException) -> float:
    headers = getattr(exc.response, "headers", {}) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else 60.0
    except ValueError:
        return 60.0
