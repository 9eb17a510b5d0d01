"""Portfolio's public write API. Other apps call only these functions."""

from .balances import ReportedBalance, record_balances
from .consumers import (
    handle_balance_reported,
    handle_fill_recorded,
    prune_processed_events,
    register_consumers,
)
from .marks import record_mark
from .positions import FillRecorded, UnknownInstrument, apply_fill_to_position, rebuild_positions
from .snapshots import take_daily_snapshots

__all__ = [
    "FillRecorded",
    "ReportedBalance",
    "UnknownInstrument",
    "apply_fill_to_position",
    "handle_balance_reported",
    "handle_fill_recorded",
    "prune_processed_events",
    "rebuild_positions",
    "record_balances",
    "record_mark",
    "register_consumers",
    "take_daily_snapshots",
]
