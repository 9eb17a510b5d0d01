"""pytest plugin (pytest.ini `-p tradingbot.pytest_sigterm`): SIGTERM stops a test run the way
Ctrl-C does, through pytest's interrupted path with every fixture's teardown, so the Celery
workers, simulators and stacks that tests start are stopped too. `tradingbot.embedded`, which
`bin/test` runs pytest under, passes a SIGTERM on as SIGTERM."""

from __future__ import annotations

import signal
import threading

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
