"""What the engine keeps in `Strategy.state` besides the runtime's own snapshot.

- `runtime`: the runtime's `snapshot()`;
- `orders`: every order of the strategy the runtime still waits on, by client order id, with
  the ids of the fills already given to it (an order leaves once its final status is given);
- `last_candle`: open time (ms) of the last candle given to `on_candle`;
- `runtime_id`: what the runtime derives client order ids from — the strategy id, plus the
  number of the fresh start after the first (`12_2`), so ids never repeat ones an earlier
  run of the same strategy already used on the account.

Fills are found by looking at the tracked orders' fill rows, not by an id cursor over a
table other transactions insert into (ids are not committed in order, a cursor could skip).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrackedOrder:
    fills: list[int] = field(default_factory=list)


@dataclass
class EngineState:
    runtime: dict[str, Any] | None = None
    orders: dict[str, TrackedOrder] = field(default_factory=dict)
    last_candle: int | None = None
    steps: int = 0
    runtime_id: str = ""  # the id client order ids derive from; new on every fresh start

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EngineState:
        if not data:
            return cls()
        return cls(
            runtime=data.get("runtime"),
            orders={
                cid: TrackedOrder(fills=list(o.get("fills", []))) for cid, o in data.get("orders", {}).items()
            },
            last_candle=data.get("last_candle"),
            steps=int(data.get("steps", 0)),
            runtime_id=str(data.get("runtime_id", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "orders": {cid: {"fills": o.fills} for cid, o in sorted(self.orders.items())},
            "last_candle": self.last_candle,
            "steps": self.steps,
            "runtime_id": self.runtime_id,
        }
