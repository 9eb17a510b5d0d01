"""The API client: places and cancels orders through POST /api/v1/orders/ with an
Idempotency-Key, and retries on purpose — the same request with the same key (must replay
the first answer), the same client_order_id under a new key (must return the existing
order) — as well as for real: an answer lost to a timeout, a 5xx, a 409 in flight or a 503
while Redis restarts is retried with the same key; a 409 from the kill switch is retried
later under a new key (the stored answer of the old key is the refusal). Every order-creating
request is recorded for the checker."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import requests

from .invariants import ClientRequest

RETRYABLE = {409, 429, 500, 502, 503, 504}


class ApiClient:
    def __init__(self, base_url: str, *, username: str, password: str, account_id: int, seed: int) -> None:
        self.base = base_url.rstrip("/")
        self.username, self.password = username, password
        self.account_id = account_id
        self.rng = random.Random(seed)  # noqa: S311 - a replayable load, not security
        self.session = requests.Session()
        self.token = ""
        self.requests: list[ClientRequest] = []
        self.outcomes: Counter[str] = Counter()
        self.resting: list[int] = []  # order ids of our resting limit orders (cancel candidates)
        self.kill_switch_refusals: list[tuple[str, dict[str, Any]]] = []  # retried after the switch
        self.lock = threading.Lock()
        self.sequence = 0

    # --- plumbing ---------------------------------------------------------------------------

    def login(self) -> None:
        for _ in range(100):
            try:
                response = self.session.post(
                    f"{self.base}/api/v1/auth/token/",
                    json={"username": self.username, "password": self.password},
                    timeout=5,
                )
                if response.status_code == 200:
                    self.token = response.json()["access"]
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("could not obtain a JWT from the web process")

    def call(
        self, method: str, path: str, *, key: str | None = None, body: Any = None
    ) -> requests.Response | None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            response = self.session.request(
                method, f"{self.base}{path}", json=body, headers=headers, timeout=5
            )
        except requests.RequestException:
            self.outcomes["no_answer"] += 1
            return None
        if response.status_code == 401:
            self.login()
        return response

    # --- orders -----------------------------------------------------------------------------

    def place(self, body: dict[str, Any], *, cid: str, retry: str = "", key: str | None = None) -> int | None:
        """POST until a final answer (retrying with the same key); returns the order id."""
        key = key or uuid.uuid4().hex
        for attempt in range(30):
            response = self.call("POST", "/api/v1/orders/", key=key, body=body)
            code = response.status_code if response is not None else 0
            data = _json(response)
            order_id = data.get("id") if code in (200, 201) else None
            self.requests.append(
                ClientRequest(cid, key, code, order_id, retry if attempt == 0 else "same_key")
            )
            self.outcomes[f"place_{code}"] += 1
            if code in (200, 201):
                return int(order_id) if order_id is not None else None
            error = data.get("error", {}).get("code", "")
            if code == 409 and error == "kill_switch_active":
                self.kill_switch_refusals.append((cid, body))
                return None
            if code and code not in RETRYABLE:
                return None
            time.sleep(0.2 + 0.1 * attempt)
        return None

    def cancel(self, order_id: int) -> None:
        key = uuid.uuid4().hex
        for attempt in range(30):
            response = self.call("POST", f"/api/v1/orders/{order_id}/cancel/", key=key)
            code = response.status_code if response is not None else 0
            self.outcomes[f"cancel_{code}"] += 1
            if code and code not in RETRYABLE - {409}:
                return
            time.sleep(0.2 + 0.1 * attempt)

    def order_body(self, symbol: str, price: Decimal) -> tuple[str, dict[str, Any]]:
        self.sequence += 1
        cid = f"soak-{self.sequence}-{uuid.uuid4().hex[:8]}"
        side = self.rng.choice(["BUY", "SELL"])
        body: dict[str, Any] = {"account": self.account_id, "symbol": symbol, "side": side,
                                "quantity": "0.100", "client_order_id": cid}  # fmt: skip
        if self.rng.random() < 0.6:
            body["type"] = "MARKET"
        else:  # a limit near the market (may fill as the price moves) or far (rests, canceled)
            offset = Decimal(str(self.rng.choice([0.002, 0.005, 0.1])))
            limit = price * (1 - offset) if side == "BUY" else price * (1 + offset)
            body["type"] = "LIMIT"
            body["time_in_force"] = "GTC"
            body["price"] = str(limit.quantize(Decimal("0.01")))
        return cid, body

    def act(self, symbol: str, price: Decimal) -> None:
        """One step of the load: a new order (with deliberate retries), sometimes a cancel."""
        if self.kill_switch_refusals and self.rng.random() < 0.5:
            cid, body = self.kill_switch_refusals.pop(0)  # the switch refused it: try again now
            self._remember(self.place(body, cid=cid, retry="same_client_order_id"), body)
            return
        if self.resting and self.rng.random() < 0.3:
            self.cancel(self.resting.pop(self.rng.randrange(len(self.resting))))
            return
        cid, body = self.order_body(symbol, price)
        key = uuid.uuid4().hex
        order_id = self.place(body, cid=cid, key=key)
        roll = self.rng.random()
        if order_id is not None and roll < 0.25:
            self.place(body, cid=cid, key=key, retry="same_key")  # the answer "was lost"
        elif order_id is not None and roll < 0.45:
            self.place(body, cid=cid, retry="same_client_order_id")  # a client restarted
        self._remember(order_id, body)

    def _remember(self, order_id: int | None, body: dict[str, Any]) -> None:
        if order_id is not None and body["type"] == "LIMIT":
            self.resting.append(order_id)


def _json(response: requests.Response | None) -> dict[str, Any]:
    if response is None:
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
