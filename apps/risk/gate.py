"""Risk's implementations of execution's gates (execution.gates): the pre-trade check, and
the kill switch with the pre-trade check answered together (`admit`)."""

from __future__ import annotations

import logging
import time

import redis

from apps.execution.gates import Admission, Denial, OrderProposal, Verdict

from . import metrics
from .services import approvals, redis_keys
from .services.health import record_validation_failure, record_validation_success
from .services.kill_switch import flag_key, state_of_flag
from .services.validation import failures_seen, validate_order

logger = logging.getLogger(__name__)


def pre_trade_check(proposal: OrderProposal, *, snapshot: approvals.Snapshot | None = None) -> Verdict:
    """Ask risk; if risk itself fails, deny (never approve on error) and record the failure
    so the watchdog can stop trading when it lasts. `snapshot`: the account's approval epoch
    and failure mark, when the caller has just read them (`admit`)."""
    started = time.perf_counter()
    try:
        approval = validate_order(
            account_id=proposal.account_id,
            symbol=proposal.symbol,
            side=proposal.side,
            order_type=proposal.order_type,
            quantity=proposal.quantity,
            price=proposal.price,
            snapshot=snapshot,
            before_state_read=proposal.before_state_read,
        )
    except Exception as exc:
        logger.exception("risk validation failed")
        record_validation_failure()
        verdict = Verdict(False, (Denial("risk_unavailable", f"Risk could not check the order: {exc}"),))
    else:
        if failures_seen():  # the check's own read said failures are recorded (or could not tell)
            record_validation_success()
        verdict = Verdict(
            approval.approved,
            tuple(Denial(r.code, r.message) for r in approval.reasons),
            reads_account_state=approval.reads_account_state,
        )
    metrics.observe_validation(started, verdict.denials)
    return verdict


def admit(proposal: OrderProposal) -> Admission:
    """`RedisKillSwitch().is_active()` then `pre_trade_check`, with one Redis round trip for
    both first reads: the switch's flag (`HGETALL`) and the account's approval epoch and
    failure mark (the `MGET` the check starts with), in one pipeline.

    The same answers: a flag that cannot be read is "on" (fail closed; the epoch is then
    unread too, but no order is checked), a missing flag is restored from the audit, the
    check is not asked while the switch is on, and the epoch is still read before the
    limits rows."""
    try:
        pipe = redis_keys.client().pipeline(transaction=False)
        pipe.hgetall(flag_key())
        pipe.mget(*approvals.snapshot_keys(account_id=proposal.account_id))
        flag, snapshot = pipe.execute()
    except redis.RedisError:
        return Admission(kill_switch_active=True)
    if state_of_flag(flag).active:
        return Admission(kill_switch_active=True)
    return Admission(
        kill_switch_active=False,
        verdict=pre_trade_check(proposal, snapshot=approvals.snapshot_of(snapshot)),
    )
