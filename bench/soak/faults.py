"""The seeded fault schedule: the same seed and duration give the same faults at the same
offsets, so a failing run can be replayed. Faults arrive as a Poisson process (about one
every `mean_gap_seconds`) until 85 % of the run; the first ones are every kind once, in a
shuffled order, so even a one-minute run has each kind at least once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WORKER_KILL = "worker_kill"
STREAM_KILL = "stream_kill"
WS_DROP = "ws_drop"
WS_DELAY = "ws_delay"
VENUE_5XX = "venue_5xx"
VENUE_TIMEOUT = "venue_timeout"
VENUE_429 = "venue_429"
REDIS_RESTART = "redis_restart"
KILL_SWITCH = "kill_switch"
KINDS = (
    WORKER_KILL,
    STREAM_KILL,
    WS_DROP,
    WS_DELAY,
    VENUE_5XX,
    VENUE_TIMEOUT,
    VENUE_429,
    REDIS_RESTART,
    KILL_SWITCH,
)


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the trading phase began
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.at:7.2f}s {self.kind}({args})"


_PARAMS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    WORKER_KILL: lambda r: {"worker": r.choice(["worker-1", "worker-2"]),
                            "down_s": round(r.uniform(0.2, 3), 2)},
    STREAM_KILL: lambda r: {"down_s": round(r.uniform(0.2, 3), 2)},
    WS_DROP: lambda r: {},
    WS_DELAY: lambda r: {"delay_ms": r.choice([200, 500, 1000, 1500]), "for_s": round(r.uniform(2, 6), 2)},
    VENUE_5XX: lambda r: {"n": r.randint(1, 4), "status": r.choice([500, 503]),
                          "target": r.choice(["/api/v3/order", None])},
    VENUE_TIMEOUT: lambda r: {"n": r.randint(1, 3), "target": "/api/v3/order"},
    VENUE_429: lambda r: {"n": r.randint(1, 3), "target": r.choice(["/api/v3/order", None])},
    REDIS_RESTART: lambda r: {"down_s": round(r.uniform(0.2, 2), 2)},
    KILL_SWITCH: lambda r: {"on_s": round(r.uniform(1.5, 5), 2), "cancel_open_orders": r.random() < 0.3},
}  # fmt: skip


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    return _PARAMS[kind](rng)


def schedule(seed: int, duration: float, *, mean_gap_seconds: float = 6.0) -> list[Fault]:
    rng = random.Random(seed)  # noqa: S311 - a replayable schedule, not security
    end = duration * 0.85
    times: list[float] = []
    at = rng.uniform(0.02, 0.08) * duration
    while at < end:
        times.append(at)
        at += rng.expovariate(1 / mean_gap_seconds)
    if len(times) < len(KINDS):  # short runs: every kind once, spread evenly
        gap = (end - duration * 0.05) / len(KINDS)
        times = [duration * 0.05 + gap * (i + rng.uniform(0.1, 0.9)) for i in range(len(KINDS))]
    kinds = list(KINDS)
    rng.shuffle(kinds)
    kinds += [rng.choice(KINDS) for _ in range(len(times) - len(kinds))]
    return [Fault(round(t, 2), kind, _params(kind, rng)) for t, kind in zip(times, kinds, strict=True)]
