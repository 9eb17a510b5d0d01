"""Risk's public write API."""

from .approvals import invalidate_approvals
from .health import publish_heartbeat, run_watchdog
from .kill_switch import (
    KillSwitchState,
    RedisKillSwitch,
    activate_kill_switch,
    deactivate_kill_switch,
    kill_switch_state,
)
from .limits import LIMIT_FIELDS, set_limits
from .validation import Approval, Reason, validate_order

__all__ = [
    "LIMIT_FIELDS",
    "Approval",
    "KillSwitchState",
    "Reason",
    "RedisKillSwitch",
    "activate_kill_switch",
    "deactivate_kill_switch",
    "invalidate_approvals",
    "kill_switch_state",
    "publish_heartbeat",
    "run_watchdog",
    "set_limits",
    "validate_order",
]
