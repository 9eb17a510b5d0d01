"""Acceptance: stop the user-stream process and /health/ready/, the dashboard and /metrics
show the account's stream down (killed: its heartbeat goes stale; stopped: it says so)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from apps.execution.tests.live import wait_for

from .helpers import scrape, start, stop, value

STALE_AFTER = 1.0


def stream_state(account_id: int) -> dict:
    body = Client().get("/health/ready/").json()
    return body["info"]["user_streams"][str(account_id)]


def dashboard_row(staff_client: Client, account_id: int) -> str:
    html = staff_client.get("/ops/dashboard/").content.decode()
    marker = f'data-component="User stream #{account_id} '
    assert marker in html, html
    row = html[html.index(marker) :]
    return row[: row.index("</tr>")]


def start_stream(account_id: int, log: Path):
    command = [sys.executable, "manage.py", "run_user_stream", "--account", str(account_id)]
    process = start(command, log, "streaming 1 account", USER_STREAM_HEARTBEAT_SECONDS="0.2")
    assert wait_for(lambda: stream_state(account_id)["state"] == "connected", timeout=20), log.read_text()
    return process


@pytest.mark.django_db(transaction=True)
@override_settings(USER_STREAM_STALE_AFTER_SECONDS=STALE_AFTER)
@pytest.mark.parametrize(("how", "shown_as"), [(signal.SIGKILL, "down"), (signal.SIGTERM, "stopped")])
def test_stopped_stream_process_shows_down(sim, account, admin_client, tmp_path, how, shown_as) -> None:
    process = start_stream(account.pk, tmp_path / "stream.log")
    try:
        assert 'data-state="ok"' in dashboard_row(admin_client, account.pk)
        assert value(scrape(), "tradingbot_user_stream_up", account=str(account.pk)) == 1

        process.send_signal(how)
        process.wait(20)
        assert wait_for(lambda: stream_state(account.pk)["state"] == shown_as, timeout=10)
    finally:
        stop(process)

    state = stream_state(account.pk)
    assert state["down_seconds"] is not None
    assert state["last_error"]
    row = dashboard_row(admin_client, account.pk)
    assert 'data-state="down"' in row
    assert shown_as in row
    samples = scrape()
    assert value(samples, "tradingbot_user_stream_up", account=str(account.pk)) == 0
    assert value(samples, "tradingbot_user_stream_down_seconds", account=str(account.pk)) >= 0


@pytest.mark.django_db(transaction=True)
@override_settings(USER_STREAM_STALE_AFTER_SECONDS=STALE_AFTER)
def test_a_running_stream_keeps_its_heartbeat_fresh(sim, account, tmp_path) -> None:
    process = start_stream(account.pk, tmp_path / "stream.log")
    try:
        for _ in range(3):  # well past STALE_AFTER: only a live heartbeat keeps it connected
            wait_for(lambda: False, timeout=0.6)
            assert stream_state(account.pk)["state"] == "connected"
            assert stream_state(account.pk)["heartbeat_age_seconds"] < STALE_AFTER
    finally:
        stop(process)
