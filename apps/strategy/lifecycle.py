"""The one strategy transition table. Anything not listed is illegal and raises.

    DRAFT   -> RUNNING                      start (preconditions checked)
    RUNNING -> PAUSED | STOPPED | ERROR     pause, stop, the engine gives up
    PAUSED  -> RUNNING | STOPPED | ERROR    resume (same preconditions), stop
    STOPPED -> RUNNING                      restart: a fresh runtime state
    ERROR   -> RUNNING | STOPPED            resume after the cause is fixed, or stop

Edits of what a bot trades (config, kind, symbol, interval, account) are allowed only in
DRAFT and STOPPED: a paused or failed bot still has a position and maybe resting orders
that its runtime state describes, and changing the rules under them would orphan both.
"""

from __future__ import annotations

from apps.core.errors import Conflict, ErrorCode

from .models import StrategyStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.RUNNING}),
    S.RUNNING: frozenset({S.PAUSED, S.STOPPED, S.ERROR}),
    S.PAUSED: frozenset({S.RUNNING, S.STOPPED, S.ERROR}),
    S.STOPPED: frozenset({S.RUNNING}),
    S.ERROR: frozenset({S.RUNNING, S.STOPPED}),
}

#: Statuses in which the trading definition (config, kind, symbol, interval, account) may change.
EDITABLE = frozenset({S.DRAFT, S.STOPPED})
#: Statuses in which a strategy may be deleted (nothing of it can be live).
DELETABLE = frozenset({S.DRAFT, S.STOPPED})
#: Starting from these begins with an empty runtime state; from the others the state resumes.
FRESH_START_FROM = frozenset({S.DRAFT, S.STOPPED})


class IllegalTransition(Conflict):
    default_code = ErrorCode.ILLEGAL_TRANSITION


def check_transition(current: S | str, target: S | str) -> None:
    current, target = S(current), S(target)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"A strategy cannot go from {current} to {target}.", field="status")
