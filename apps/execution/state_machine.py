"""The one order transition table. Anything not listed is illegal and raises."""

from __future__ import annotations

from apps.core.domain import OrderStatus as S
from apps.core.errors import Conflict, ErrorCode

TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCEL_REQUESTED, S.EXPIRED}),
    S.SUBMITTED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELED, S.REJECTED, S.EXPIRED}
    ),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCEL_REQUESTED, S.CANCELED, S.EXPIRED}),
    # A cancel races with fills; the venue may also refuse it (order still open) or never
    # have seen the order (REJECTED once reconciliation proves that).
    S.CANCEL_REQUESTED: frozenset(
        {S.CANCELED, S.EXPIRED, S.PARTIALLY_FILLED, S.FILLED, S.SUBMITTED, S.REJECTED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class IllegalTransition(Conflict):
    default_code = ErrorCode.ILLEGAL_TRANSITION


def check_transition(current: S | str, target: S | str) -> None:
    current, target = S(current), S(target)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"An order cannot go from {current} to {target}.", field="status")
