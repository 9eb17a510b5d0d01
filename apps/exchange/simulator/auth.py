"""Signed requests, checked the way Binance checks them (HMAC-SHA256 keys only).

REST: the signature is the hex HMAC-SHA256 of the query string followed by the body (each
exactly as received, the `signature` parameter taken out), keyed by the API secret; the key
comes in the `X-MBX-APIKEY` header. python-binance 1.0.37 sends every parameter either in the
query (GET) or in the form body (POST/DELETE), sorted, with `signature` last.

WebSocket API: the signature is over the request's params (without `signature`) sorted by
name and URL-encoded (python-binance: `urlencode(dict(sorted(params.items())))`).

Both: `timestamp` (ms) is required; `recvWindow` defaults to 5000 and may be at most 60000;
a timestamp more than 1000 ms ahead of the server, or older than recvWindow, is -1021.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from urllib.parse import urlencode

from .errors import BinanceError, illegal_characters, mandatory

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
MAX_AHEAD_MS = 1000


def bad_signature() -> BinanceError:
    return BinanceError(400, -1022, "Signature for this request is not valid.")


def bad_api_key() -> BinanceError:
    return BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


class Authenticator:
    """API keys and secrets of the simulated accounts."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, api_key: str, api_secret: str) -> None:
        with self._lock:
            self._secrets[api_key] = api_secret

    def verify_rest(
        self,
        *,
        api_key: str | None,
        raw_query: str,
        raw_body: str,
        params: Mapping[str, str],
        now_ms: int,
    ) -> str:
        """The account's API key if the request is properly signed, else BinanceError."""
        if not api_key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        secret = self._secret(api_key)
        check_timestamp(params.get("timestamp"), params.get("recvWindow"), now_ms)
        signature = params.get("signature")
        if not signature:
            raise mandatory("signature")
        payload = _without_signature(raw_query) + _without_signature(raw_body)
        _check_signature(secret, payload, signature)
        return api_key

    def verify_ws(self, params: Mapping[str, object], now_ms: int) -> str:
        """Same checks for a WebSocket API request's `params`."""
        api_key = params.get("apiKey")
        if not isinstance(api_key, str) or not api_key:
            raise mandatory("apiKey")
        secret = self._secret(api_key)
        timestamp, window = params.get("timestamp"), params.get("recvWindow")
        check_timestamp(
            None if timestamp is None else str(timestamp), None if window is None else str(window), now_ms
        )
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise mandatory("signature")
        signed = {k: _ws_value(v) for k, v in sorted(params.items()) if k != "signature"}
        _check_signature(secret, urlencode(signed), signature)
        return api_key

    def _secret(self, api_key: str) -> str:
        with self._lock:
            secret = self._secrets.get(api_key)
        if secret is None:
            raise bad_api_key()
        return secret


def check_timestamp(timestamp: str | None, recv_window: str | None, now_ms: int) -> None:
    if not timestamp:
        raise mandatory("timestamp")
    sent = _as_int("timestamp", timestamp)
    window = DEFAULT_RECV_WINDOW if recv_window is None else _as_int("recvWindow", recv_window)
    if window <= 0 or window > MAX_RECV_WINDOW:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    if sent - now_ms > MAX_AHEAD_MS:
        raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - sent > window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _as_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise illegal_characters(name, "^[0-9]{1,20}$") from None


def _without_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


def _check_signature(secret: str, payload: str, signature: str) -> None:
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise bad_signature()


def _ws_value(value: object) -> str:
    """Python's urlencode stringification, which is what python-binance signs."""
    return str(value)
