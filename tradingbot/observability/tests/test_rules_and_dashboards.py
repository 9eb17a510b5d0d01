"""Every tradingbot metric the alert rules and the Grafana dashboard use is one the code
defines (a renamed metric must not silently disable an alert or empty a panel)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SUFFIXES = re.compile(r"_(total|bucket|count|sum)$")


def used_names(text: str) -> set[str]:
    return {SUFFIXES.sub("", name) for name in re.findall(r"\btradingbot_[a-z0-9_]+", text)}


def source_text() -> str:
    files = [
        *ROOT.glob("apps/*/metrics.py"),
        *ROOT.glob("apps/*/services/*.py"),
        ROOT / "tradingbot/observability/collectors.py",
    ]
    return "\n".join(path.read_text() for path in files)


@pytest.mark.parametrize("path", ["ops/prometheus/alerts.yml", "ops/grafana/tradingbot.json"])
def test_every_metric_used_is_defined(path: str) -> None:
    text = (ROOT / path).read_text()
    if path.endswith(".json"):
        text = "\n".join(t["expr"] for p in json.loads(text)["panels"] for t in p.get("targets", []))
    names = used_names(text)
    assert len(names) >= 8
    defined = source_text()
    missing = sorted(
        name for name in names if f'"{name}"' not in defined and f'"{name}_total"' not in defined
    )
    assert missing == []
