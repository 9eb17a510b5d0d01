"""What must hold before a strategy may run. The API's start and the live engine (before
every step) ask the same function, so a bot never trades in a state a user could not start
it in.

Every check that cannot read its source fails closed: an unreadable kill switch counts as
active, an unreadable risk heartbeat as risk unavailable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from apps.candles import intervals
from apps.candles import selectors as candle_selectors
from apps.exchange import selectors as exchange_selectors
from apps.execution.user_stream import account_stream_state
from apps.risk.services import kill_switch_state
from apps.risk.services.health import risk_unavailable_reason
from apps.strategy.config_parsing import parse
from apps.strategy.configs import ConfigInvalid, StrategyKind
from apps.strategy.models import Strategy
from apps.strategy.preflight import preflight

logger = logging.getLogger(__name__)

#: The latest closed candle may be at most this many intervals old (one is normal: the
#: in-progress candle; the second absorbs import and scheduling delay).
FRESH_INTERVALS = 2


@dataclass(frozen=True)
class Reason:
    """Why a strategy may not run now; `code` is stable (clients and the engine branch on it)."""

    code: str
    message: str


def start_preconditions(strategy: Strategy, *, now: datetime | None = None) -> list[Reason]:
    """Every reason `strategy` may not run now (empty: it may)."""
    now = now or timezone.now()
    reasons: list[Reason] = []
    reasons += _account_reasons(strategy)
    reasons += _stream_reasons(strategy)
    reasons += _kill_switch_reasons()
    reasons += _risk_reasons()
    config_ok = _config_reasons(strategy, reasons)
    symbol_known = exchange_selectors.get_symbol_filters(
        exchange=strategy.account.exchange, symbol=strategy.symbol
    )
    if symbol_known is None:
        reasons.append(
            Reason("unknown_symbol", f"{strategy.account.exchange} does not trade {strategy.symbol}.")
        )
    candles_fresh = _candle_reasons(strategy, now, reasons)
    if config_ok and symbol_known is not None and candles_fresh:
        reasons += _preflight_reasons(strategy, now)
    return reasons


def _account_reasons(strategy: Strategy) -> list[Reason]:
    account = strategy.account
    if account.owner_id != strategy.owner_id:
        return [Reason("account_not_owned", "the account does not belong to the strategy's owner.")]
    if not account.is_active:
        return [Reason("account_inactive", f"account {account.name!r} is disabled.")]
    return []


def _stream_reasons(strategy: Strategy) -> list[Reason]:
    """An account with credentials trades through its user-data stream: fills must come back."""
    if not strategy.account.api_key_encrypted:
        return []  # no credentials, no stream: such an account cannot send orders anyway
    try:
        state = account_stream_state(strategy.account_id)
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        return [Reason("stream_unhealthy", f"the account's stream state cannot be read ({exc}).")]
    if state["state"] != "connected":
        detail = f" ({state['last_error']})" if state.get("last_error") else ""
        return [Reason("stream_unhealthy", f"the account's user-data stream is {state['state']}{detail}.")]
    return []


def _kill_switch_reasons() -> list[Reason]:
    try:
        state = kill_switch_state()
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        logger.warning("kill switch unreadable: %s", exc)
        return [Reason("kill_switch_active", f"the kill switch cannot be read ({exc}); trading is off.")]
    if state.active:
        return [Reason("kill_switch_active", f"the kill switch is on: {state.reason or 'no reason given'}.")]
    return []


def _risk_reasons() -> list[Reason]:
    try:
        reason = risk_unavailable_reason()
    except Exception as exc:  # noqa: BLE001 - fail closed on anything
        reason = f"risk health cannot be read ({exc})"
    return [Reason("risk_unavailable", reason)] if reason else []


def _config_reasons(strategy: Strategy, reasons: list[Reason]) -> bool:
    try:
        parse(StrategyKind(strategy.kind), strategy.config)
    except ConfigInvalid as exc:
        reasons.append(Reason("invalid_config", f"the stored config is no longer valid: {exc.message}"))
        return False
    return True


def _candle_reasons(strategy: Strategy, now: datetime, reasons: list[Reason]) -> bool:
    latest = candle_selectors.latest_closed_candle(
        symbol=strategy.symbol, interval=strategy.interval, now=now
    )
    if latest is None:
        reasons.append(
            Reason("no_candles", f"no closed {strategy.interval} candles of {strategy.symbol} are stored.")
        )
        return False
    limit = timedelta(milliseconds=FRESH_INTERVALS * intervals.nominal_ms(strategy.interval))
    age = now - latest.close_time
    if age > limit:
        reasons.append(
            Reason(
                "stale_candles",
                f"the latest closed {strategy.interval} candle of {strategy.symbol} closed at "
                f"{latest.close_time.isoformat()} ({_human(age)} ago; at most {_human(limit)} allowed).",
            )
        )
        return False
    return True


def _preflight_reasons(strategy: Strategy, now: datetime) -> list[Reason]:
    config = parse(StrategyKind(strategy.kind), strategy.config)
    report = preflight(
        config,
        symbol=strategy.symbol,
        interval=strategy.interval,
        exchange=strategy.account.exchange,
        now=now,
    )
    reasons = [Reason(p.code, p.message) for p in report.problems]
    for order in report.rejected:
        assert order.problem is not None  # noqa: S101 - rejected means it has one
        reasons.append(
            Reason("preflight_rejected", f"{order.role} order {order.index}: {order.problem.message}")
        )
    return reasons


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"
