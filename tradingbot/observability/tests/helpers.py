"""Scraping /metrics and starting real processes (Celery worker, user stream) for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.core.testing import url_of_test_database

PROJECT_DIR = Path(__file__).resolve().parents[3]
START_TIMEOUT = 60


def scrape(client: Client | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process working on this test run's database and metrics."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingbot.settings.test",
        "DATABASE_URL": url_of_test_database(),
        "REDIS_URL": settings.REDIS_URL,
        "SIMULATOR_BASE_URL": settings.SIMULATOR_BASE_URL,
        "SIMULATOR_WS_API_URL": settings.SIMULATOR_WS_API_URL,
        **extra,
    }


def start(command: list[str], log: Path, ready_text: str, **env: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603
        command, cwd=PROJECT_DIR, env=process_env(**env), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{command} exited early:\n{log.read_text()}")
        if ready_text in log.read_text():
            return process
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"{command} not ready after {START_TIMEOUT}s:\n{log.read_text()}")


def start_worker(log: Path, queues: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "tradingbot", "worker", "-Q", queues, "--pool", "solo",
               "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip
    return start(command, log, " ready.")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
