"""Scripted check of the running demo (issue: one-command paper trading): log in as the demo
user through the API and wait until at least one FILLED order and one position show up.

    python -m tradingbot.demo_check [--base-url http://127.0.0.1:8000] [--timeout 90]

Exit 0 when both are seen within the timeout (printing how long it took), 1 otherwise.
Standard library only, so it runs against any deployment of the stack.
"""

# ruff: noqa: T201 - a command-line script: its output is the point

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def _call(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http(s) URL from the operator
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo-password"))
    args = parser.parse_args()
    api = args.base_url.rstrip("/") + "/api/v1"
    started = time.monotonic()
    token = None
    filled: list[dict[str, Any]] = []
    positions: list[dict[str, Any]] = []
    while time.monotonic() - started < args.timeout:
        try:
            if token is None:
                token = _call(
                    f"{api}/auth/token/", body={"username": args.username, "password": args.password}
                )["access"]
            filled = _call(f"{api}/orders/?status=FILLED", token)["results"]
            positions = [
                p for p in _call(f"{api}/portfolio/positions/", token)["results"] if p["quantity"] != "0"
            ]
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            print(f"  waiting ({exc})", flush=True)
        if filled and positions:
            elapsed = time.monotonic() - started
            print(
                f"demo check passed after {elapsed:.0f}s: {len(filled)} filled order(s), e.g. "
                f"{filled[0]['side']} {filled[0]['quantity']} {filled[0]['symbol']}; position "
                f"{positions[0]['symbol']} {positions[0]['quantity']}"
            )
            return 0
        time.sleep(2)
    print(
        f"demo check FAILED after {args.timeout:.0f}s: "
        f"filled orders {len(filled)}, positions {len(positions)}"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
