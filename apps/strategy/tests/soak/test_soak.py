"""The one-minute soak, in CI: the whole stack on loopback (gunicorn, two Celery workers,
beat, the user-data stream, its own redis-server, the simulator) trades for 60 s under a
seeded fault schedule with every fault kind at least once, then the invariant checker finds
our books equal to the simulator's ledger. The soak runs as a subprocess (`python -m
bench.soak`) against this test run's database; it exits non-zero on any discrepancy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.core.testing import url_of_test_database
from bench.soak import faults

ROOT = Path(__file__).resolve().parents[4]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(420)]


def test_a_minute_of_trading_under_every_fault_kind_leaves_the_books_equal_to_the_ledger(
    tmp_path: Path,
) -> None:
    report_file = tmp_path / "report.json"
    command = [
        sys.executable, "-m", "bench.soak", "--duration", "60", "--seed", "7", "--keep-database",
        "--database-url", url_of_test_database(), "--min-fills", "100", "--settle-timeout", "120",
        "--json", str(report_file), "--run-dir", str(tmp_path / "run"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400, check=False)  # noqa: S603

    assert done.returncode == 0, f"{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    report = json.loads(report_file.read_text())
    assert report["ok"]
    assert report["discrepancies"]["total"] == 0
    assert report["fills_total"] >= 100
    assert set(report["faults_injected"]) == set(faults.KINDS)
    assert all(count >= 1 for count in report["faults_injected"].values()), report["faults_injected"]
    assert report["kill_switch_intervals"], "the kill switch was toggled"
    retries = report["client"]["deliberate_retries"]
    assert retries.get("same_key", 0) > 0
    assert retries.get("same_client_order_id", 0) > 0
    assert report["venue_orders_total"] > 0
    assert report["orders_total"] >= report["venue_orders_total"]
    assert report["process_starts"]["worker-1"] + report["process_starts"]["worker-2"] >= 3
