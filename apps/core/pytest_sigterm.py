"""pytest plugin (pytest.ini `-p apps.core.pytest_sigterm`): SIGTERM stops a test run the way
Ctrl-C does, through pytest's interrupted path with every fixture's teardown, so the Celery
workers, simulators and stacks that tests start are stopped too. `tradingbot.embedded`, which
`bin/test` runs pytest under, passes a SIGTERM on as SIGTERM.

It lives outside the `tradingbot` package on purpose: importing that package loads the Celery
app, which sets DJANGO_SETTINGS_MODULE to the local settings before pytest-django reads the
test settings from pytest.ini."""

from __future__ import annotations

import signal
import threading

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    # One interrupt: a repeated SIGTERM during teardown would interrupt a finalizer and skip
    # the rest (pytest's teardown catches Exception only).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt
