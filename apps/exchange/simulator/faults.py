"""Fault switches: the failures a Binance client must survive, on demand.

Tests flip them from their own thread while the server runs on its loop thread, so the
one-shot failures sit behind a lock. Failure modes, as on Binance:

- HTTP 500 / 503: the request may or may not have been executed (status UNKNOWN).
- -1007 (answered with HTTP 408 here): a timeout between gateway and matching engine; the
  order usually DID go through. By default the simulator executes the request and loses
  the answer, which is the case a client must get right (look the order up, never resend).
- 429: rate limited, with `Retry-After: retry_after_seconds`; never executed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BinanceError

TIMEOUT = -1007
SUPPORTED = (500, 503, 429, TIMEOUT)


@dataclass(frozen=True, slots=True)
class Failure:
    """One injected failure. `execute`: run the request anyway, then answer with the error."""

    status: int
    execute: bool
    target: str | None

    def error(self, retry_after: int) -> BinanceError:
        if self.status == 429:
            return BinanceError(
                429,
                -1003,
                "Too many requests; please use the websocket for live updates.",
                retry_after=retry_after,
            )
        if self.status == TIMEOUT:
            return BinanceError(
                408,
                TIMEOUT,
                "Timeout waiting for response from backend server. Send status unknown; "
                "execution status unknown.",
            )
        if self.status == 503:
            return BinanceError(503, -1000, "Unknown error, please check your request or try again later.")
        return BinanceError(500, -1000, "An unknown error occurred while processing the request.")


@dataclass
class Faults:
    """Mutable switches read by the REST dispatcher and the WebSocket sessions."""

    delay_events_ms: int = 0
    duplicate_events: bool = False
    reorder_events: bool = False
    retry_after_seconds: int = 1
    _pending: list[Failure] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _drop: Callable[[], None] | None = field(default=None, repr=False)

    def fail_next(
        self, n: int = 1, status: int = 500, *, target: str | None = None, execute: bool | None = None
    ) -> None:
        """Answer the next `n` requests with `status` (500, 503, 429 or -1007).

        `target` narrows it to one REST path ("/api/v3/order") or WebSocket API method
        ("userDataStream.subscribe.signature"); None means any request. `execute` defaults
        to True for -1007 (the order went through, the answer was lost) and False otherwise.
        """
        if status not in SUPPORTED:
            raise ValueError(f"status must be one of {SUPPORTED}, not {status}")
        run = execute if execute is not None else status == TIMEOUT
        if status == 429:
            run = False
        with self._lock:
            self._pending.extend(Failure(status=status, execute=run, target=target) for _ in range(n))

    def take(self, target: str) -> Failure | None:
        """The failure (if any) that applies to this request; consumes it."""
        with self._lock:
            for index, failure in enumerate(self._pending):
                if failure.target is None or failure.target == target:
                    return self._pending.pop(index)
        return None

    def on_drop(self, callback: Callable[[], None]) -> None:
        """The server registers how to drop its connections."""
        self._drop = callback

    def drop_websockets(self) -> None:
        """Close every WebSocket API connection now (the clients see the connection go away)."""
        if self._drop is not None:
            self._drop()

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
        self.delay_events_ms = 0
        self.duplicate_events = False
        self.reorder_events = False
