"""`python -m tradingbot.embedded -- <command>`: the wrapper `bin/run` and `bin/test` use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

# A child that records the signal that stops it. Started with SIGINT ignored, as every
# process of a command started in the background by a non-interactive shell is.
CHILD = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    out.write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
out.with_suffix(".ready").write_text("")
while True:
    time.sleep(0.05)
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_sigterm_to_the_wrapper_stops_its_command_even_with_sigint_ignored(tmp_path: Path) -> None:
    record = tmp_path / "stopped-by"
    env = {
        **os.environ,
        # Given URLs, the wrapper starts no embedded service: only its own signal handling is tested.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    wrapper = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tradingbot.embedded", "--", sys.executable, "-c", CHILD, str(record)],
        cwd=PROJECT_DIR,
        env=env,
        preexec_fn=_ignore_sigint,  # noqa: PLW1509 - single-threaded here, before exec
    )
    try:
        deadline = time.monotonic() + 30
        while not record.with_suffix(".ready").exists():
            assert time.monotonic() < deadline, "the child never started"
            assert wrapper.poll() is None, wrapper.returncode
            time.sleep(0.05)

        started = time.monotonic()
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(20)  # the wrapper's own fallback kills an unresponsive child after 30 s
        elapsed = time.monotonic() - started
    finally:
        if wrapper.poll() is None:
            wrapper.kill()

    assert record.read_text() == "SIGTERM"  # stopped by the forwarded signal, not killed
    assert wrapper.returncode == 0
    assert elapsed < 10


def test_sigterm_to_pytest_runs_the_fixtures_teardown(tmp_path: Path) -> None:
    """The suite under the wrapper gets SIGTERM as SIGTERM: the plugin pytest.ini loads makes it
    an interrupt, so the fixtures that stop workers and simulators still run."""
    (tmp_path / "test_slow.py").write_text(
        "import pathlib, time, pytest\n"
        "@pytest.fixture\n"
        "def resource():\n"
        f"    pathlib.Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "    yield\n"
        f"    pathlib.Path({str(tmp_path / 'torn-down')!r}).write_text('')\n"
        "def test_sleeps(resource):\n"
        "    time.sleep(60)\n"
    )
    run = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
         "-p", "apps.core.pytest_sigterm",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_slow.py")],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline, "the test never started"
            assert run.poll() is None, run.communicate()[0].decode()
            time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=30)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()

    assert (tmp_path / "torn-down").exists(), output
    assert "KeyboardInterrupt" in output
