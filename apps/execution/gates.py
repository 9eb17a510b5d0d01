"""The two checks execution needs before an order leaves the process, as small interfaces.

Execution sits below risk in the layering, so it defines what it needs and the risk app
registers implementations at start-up (`register_pre_trade_check`, `register_kill_switch`).
Until then the defaults are permissive; tests replace them.

Order intake asks both at once (`admit`): the kill switch first, then the pre-trade check.
An implementation may answer both together (`register_admission`: risk reads the switch and
its own state in one Redis round trip); it is used only while the two registered checks are
the ones it combines, so replacing either one (tests do) is always obeyed.
"""

from __future__ import annotations

from collections.abc import Callable
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
    #: Called by a check just before it reads the account's state (open orders, position…):
    #: intake takes the account's intake lock there, so the check runs once, under it.
    before_state_read: Callable[[], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Denial:
    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    approved: bool
    denials: tuple[Denial, ...] = field(default_factory=tuple)
    #: The verdict depended on the account's state (open orders, position, exposure…), so an
    #: intake must reach it under the account's intake lock. True unless the check says not:
    #: an unknown check is assumed to read the account.
    reads_account_state: bool = True


@dataclass(frozen=True)
class Admission:
    """Whether an order may be placed: the kill switch, then (only while it is off) the
    pre-trade verdict."""

    kill_switch_active: bool
    verdict: Verdict | None = None  # None: not asked, the kill switch is on


class PreTradeCheck(Protocol):
    def __call__(self, proposal: OrderProposal) -> Verdict: ...


class KillSwitch(Protocol):
    def is_active(self) -> bool:
        """True when no order may leave the process. Must fail closed (True) on error."""
        ...


class AdmissionCheck(Protocol):
    def __call__(self, proposal: OrderProposal) -> Admission:
        """The kill switch and the pre-trade check answered together, exactly as asking
        them one after the other would; the switch must fail closed on error."""
        ...


def _approve_all(proposal: OrderProposal) -> Verdict:
    return Verdict(approved=True)


class _NeverActive:
    def is_active(self) -> bool:
        return False


_pre_trade_check: PreTradeCheck = _approve_all
_kill_switch: KillSwitch = _NeverActive()
# (the kill switch, the pre-trade check, the check answering both): used while both are registered
_admission: tuple[KillSwitch, PreTradeCheck, AdmissionCheck] | None = None


def register_pre_trade_check(check: PreTradeCheck) -> None:
    global _pre_trade_check  # noqa: PLW0603 - a start-up registry
    _pre_trade_check = check


def register_kill_switch(switch: KillSwitch) -> None:
    global _kill_switch  # noqa: PLW0603 - a start-up registry
    _kill_switch = switch


def register_admission(
    check: AdmissionCheck, *, kill_switch: KillSwitch, pre_trade_check: PreTradeCheck
) -> None:
    """`check` answers for `kill_switch` and `pre_trade_check` together (fewer round trips)."""
    global _admission  # noqa: PLW0603 - a start-up registry
    _admission = (kill_switch, pre_trade_check, check)


def admit(proposal: OrderProposal) -> Admission:
    """The kill switch, then the pre-trade check, for an order about to be accepted."""
    combined = _admission
    if combined is not None and combined[0] is _kill_switch and combined[1] is _pre_trade_check:
        try:
            return combined[2](proposal)
        except Exception:  # noqa: BLE001 - fail closed whatever went wrong
            return Admission(kill_switch_active=True)
    if kill_switch_active():
        return Admission(kill_switch_active=True)
    return Admission(kill_switch_active=False, verdict=pre_trade_check(proposal))


def pre_trade_check(proposal: OrderProposal) -> Verdict:
    return _pre_trade_check(proposal)


def kill_switch_active() -> bool:
    try:
        return _kill_switch.is_active()
    except Exception:  # noqa: BLE001 - fail closed whatever went wrong
        return True
