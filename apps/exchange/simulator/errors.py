"""Errors the simulator answers with, as Binance renders them: HTTP status + `{"code", "msg"}`."""

from __future__ import annotations

from apps.exchange.matching import EngineError


class BinanceError(Exception):
    """A refusal with Binance's HTTP status, error code and message."""

    def __init__(self, status: int, code: int, msg: str, *, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after = retry_after

    @classmethod
    def from_engine(cls, error: EngineError) -> BinanceError:
        """The engine's refusals are all request errors (HTTP 400), as on Binance."""
        return cls(400, error.code, error.message)

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_characters(name: str, legal: str) -> BinanceError:
    return BinanceError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def invalid_value(code: int, msg: str) -> BinanceError:
    return BinanceError(400, code, msg)


def too_much_weight(limit: int, retry_after: int) -> BinanceError:
    return BinanceError(
        429,
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        retry_after=retry_after,
    )


def too_many_orders(limit: int, interval: str, retry_after: int) -> BinanceError:
    return BinanceError(
        429,
        -1015,
        f"Too many new orders; current limit is {limit} orders per {interval}.",
        retry_after=retry_after,
    )
