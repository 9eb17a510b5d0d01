"""The two checks execution needs before an order leaves the process, as small interfaces.

Execution sits below risk in the layering, so it defines what it needs and the risk app
registers implementations at start-up (`register_pre_trade_check`, `register_kill_switch`).
Until then the defaults are permissive; tests replace them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class OrderProposal:
    account_id: int
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None


@dataclass(frozen=True)
class Denial:
    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    approved: bool
    denials: tuple[Denial, ...] = field(default_factory=tuple)


class PreTradeCheck(Protocol):
    def __call__(self, proposal: OrderProposal) -> Verdict: ...


class KillSwitch(Protocol):
    def is_active(self) -> bool:
        """True when no order may leave the process. Must fail closed (True) on error."""
        ...


def _approve_all(proposal: OrderProposal) -> Verdict:
    return Verdict(approved=True)


class _NeverActive:
    def is_active(self) -> bool:
        return False


_pre_trade_check: PreTradeCheck = _approve_all
_kill_switch: KillSwitch = _NeverActive()


def register_pre_trade_check(check: PreTradeCheck) -> None:
    global _pre_trade_check  # noqa: PLW0603 - a start-up registry
    _pre_trade_check = check


def register_kill_switch(switch: KillSwitch) -> None:
    global _kill_switch  # noqa: PLW0603 - a start-up registry
    _kill_switch = switch


def pre_trade_check(proposal: OrderProposal) -> Verdict:
    return _pre_trade_check(proposal)


def kill_switch_active() -> bool:
    try:
        return _kill_switch.is_active()
    except Exception:  # noqa: BLE001 - fail closed whatever went wrong
        return True
