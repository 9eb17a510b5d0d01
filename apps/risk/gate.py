"""Risk's implementation of execution's pre-trade check (execution.gates.PreTradeCheck)."""

from __future__ import annotations

import logging
import time

from apps.execution.gates import Denial, OrderProposal, Verdict

from . import metrics
from .services.health import record_validation_failure, record_validation_success
from .services.validation import failures_seen, validate_order

logger = logging.getLogger(__name__)


def pre_trade_check(proposal: OrderProposal) -> Verdict:
    """Ask risk; if risk itself fails, deny (never approve on error) and record the failure
    so the watchdog can stop trading when it lasts."""
    started = time.perf_counter()
    try:
        approval = validate_order(
            account_id=proposal.account_id,
            symbol=proposal.symbol,
            side=proposal.side,
            order_type=proposal.order_type,
            quantity=proposal.quantity,
            price=proposal.price,
        )
    except Exception as exc:
        logger.exception("risk validation failed")
        record_validation_failure()
        verdict = Verdict(False, (Denial("risk_unavailable", f"Risk could not check the order: {exc}"),))
    else:
        if failures_seen():  # the check's own read said failures are recorded (or could not tell)
            record_validation_success()
        verdict = Verdict(approval.approved, tuple(Denial(r.code, r.message) for r in approval.reasons))
    metrics.observe_validation(started, verdict.denials)
    return verdict
