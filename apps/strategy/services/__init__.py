"""Strategy's public write API (and `start_preconditions`, which the live engine reuses)."""

from .lifecycle import StartRefused, mark_error, pause_strategy, start_strategy, stop_strategy
from .preconditions import Reason, start_preconditions
from .strategies import StaleVersion, create_strategy, delete_strategy, update_strategy

__all__ = [
    "Reason",
    "StaleVersion",
    "StartRefused",
    "create_strategy",
    "delete_strategy",
    "mark_error",
    "pause_strategy",
    "start_preconditions",
    "start_strategy",
    "stop_strategy",
    "update_strategy",
]
