"""The user stream applies execution reports that are already waiting as one burst, in
arrival order relative to the other events, and never waits for a burst to form."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets

from apps.execution import user_stream
from apps.execution.services.venue_events import ReportOutcome
from apps.execution.user_stream import AccountStream, StreamHealth, _ReadFailed, _waiting


def report_event(trade_id: int) -> dict[str, Any]:
    return {
        "subscriptionId": 0,
        "event": {
            "e": "executionReport",
            "E": 1_767_225_600_000,
            "s": "BTCUSDT",
            "c": f"c{trade_id}",
            "S": "BUY",
            "x": "TRADE",
            "X": "PARTIALLY_FILLED",
            "i": 7,
            "l": "0.1",
            "L": "30000",
            "Y": "3000",
            "z": "0.1",
            "Z": "3000",
            "t": trade_id,
            "T": 1_767_225_600_000,
        },
    }


POSITION = {"subscriptionId": 0, "event": {"e": "outboundAccountPosition", "E": 1_767_225_600_000, "B": []}}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    seen: list[tuple[str, list[int]]] = []

    def reports(*, account_id: int, reports: list[Any]) -> list[ReportOutcome]:
        seen.append(("reports", [r.trade_id for r in reports]))
        return [ReportOutcome(applied_fill=True, gap_detected=False) for _ in reports]

    def position(*, account_id: int, position: Any) -> None:
        seen.append(("position", []))

    monkeypatch.setattr(user_stream, "apply_execution_reports", reports)
    monkeypatch.setattr(user_stream, "record_account_position", position)
    return seen


def stream() -> AccountStream:
    return AccountStream(
        account_id=1, ws_api_url="ws://unused", api_key="k", api_secret="s", health=StreamHealth(1)
    )


def test_waiting_reports_form_one_burst_in_order_with_the_other_events(calls) -> None:
    closed = websockets.ConnectionClosedError(None, None)
    messages: list[dict[str, Any] | _ReadFailed] = [
        report_event(1),
        report_event(2),
        POSITION,
        report_event(3),
        _ReadFailed(closed),
        report_event(4),
    ]

    with pytest.raises(websockets.ConnectionClosedError):
        asyncio.run(stream()._dispatch_burst(messages))

    # Everything that arrived before the connection closed is applied, in order; nothing after.
    assert calls == [("reports", [1, 2]), ("position", []), ("reports", [3])]


def test_a_lone_report_is_taken_at_once_and_only_waiting_ones_join_it() -> None:
    async def scenario() -> tuple[int, int]:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        first = report_event(1)
        lone = len(_waiting(first, inbox))  # returns at once with an empty queue
        for trade_id in range(2, 2 + user_stream.MAX_BURST + 5):
            inbox.put_nowait(report_event(trade_id))
        return lone, len(_waiting(first, inbox))

    assert asyncio.run(scenario()) == (1, user_stream.MAX_BURST)
