"""`manage.py backtest` with a config file: stores the run, prints the summary, writes the SVG."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.backtest.models import BacktestRun, BacktestStatus
from apps.strategy.tests.factories import StrategyFactory, grid_config

from .helpers import START
from .test_api import END, market  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
CONFIG = grid_config(lower_price="28000", upper_price="32000", levels=21, quantity_per_level="0.002")


def test_config_file_run_prints_summary_and_writes_svg(tmp_path: Path, user, market) -> None:  # noqa: F811
    config = tmp_path / "grid.json"
    config.write_text(json.dumps(CONFIG))
    svg = tmp_path / "eq.svg"
    out = StringIO()
    call_command(
        "backtest",
        "--config",
        str(config),
        "--kind",
        "GRID",
        "--symbol",
        "BTCUSDT",
        "--interval",
        "1m",
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        "--owner",
        user.username,
        "--svg",
        str(svg),
        "--no-progress",
        stdout=out,
    )
    run = BacktestRun.objects.get()
    assert run.status == BacktestStatus.SUCCEEDED
    text = out.getvalue()
    assert f"result digest  {run.result_digest}" in text.replace("   ", "  ") or run.result_digest in text
    assert "max_drawdown" in text
    body = svg.read_text()
    assert body.startswith("<svg")
    assert body.count(",") > 100  # a real polyline


def test_strategy_run_and_errors(tmp_path: Path, user, market) -> None:  # noqa: F811
    strategy = StrategyFactory.create(owner=user, kind="GRID", config=CONFIG, symbol="BTCUSDT", interval="1m")
    call_command(
        "backtest",
        "--strategy",
        str(strategy.pk),
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        "--svg",
        str(tmp_path / "s.svg"),
        "--no-progress",
        stdout=StringIO(),
    )
    assert BacktestRun.objects.get().strategy_id == strategy.pk
    with pytest.raises(CommandError, match="unknown_symbol"):
        call_command(
            "backtest",
            "--strategy",
            str(strategy.pk),
            "--symbol",
            "NOPE",
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            "--no-progress",
            stdout=StringIO(),
        )
