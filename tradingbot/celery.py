"""Celery application: named queues by priority, one routing table, the beat schedule.

Queues (highest priority first): `execution` (order submission and fills — run its workers
with `--prefetch-multiplier 1`, the project default), `outbox`, `risk`, `reconciliation`,
`strategy`, `backtest` (long jobs; give it its own workers so it never delays money paths).
"""

from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings.local")

app = Celery("tradingbot")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUE_PRIORITIES: dict[str, int] = {
    "execution": 9,
    "outbox": 8,
    "risk": 7,
    "reconciliation": 6,
    "strategy": 5,
    "backtest": 1,
}

_default_exchange = Exchange("tradingbot", type="direct")

app.conf.task_queues = [
    Queue(name, _default_exchange, routing_key=name, queue_arguments={"x-max-priority": 10})
    for name in QUEUE_PRIORITIES
]
app.conf.task_default_queue = "strategy"
app.conf.task_default_exchange = "tradingbot"
app.conf.task_default_routing_key = "strategy"
app.conf.task_queue_max_priority = 10
app.conf.task_default_priority = 5

# Routing by task-name glob; Celery takes the first match, so specific names come first.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "apps.execution.tasks.relay_outbox*": {"queue": "outbox"},
    "apps.execution.tasks.sweep_outbox*": {"queue": "outbox"},
    "apps.execution.tasks.prune_outbox*": {"queue": "outbox"},
    "apps.execution.tasks.reconcile*": {"queue": "reconciliation"},
    "apps.execution.tasks.*": {"queue": "execution"},
    "apps.portfolio.tasks.*": {"queue": "outbox"},
    "apps.risk.tasks.watchdog": {"queue": "outbox"},  # must run while risk workers are down
    "apps.risk.tasks.*": {"queue": "risk"},
    "apps.core.tasks.*": {"queue": "risk"},
    "apps.strategy.tasks.*": {"queue": "strategy"},
    "apps.candles.tasks.*": {"queue": "strategy"},
    "apps.backtest.tasks.*": {"queue": "backtest"},
}
app.conf.task_routes = (TASK_ROUTES,)

BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "purge-expired-idempotency-keys": {
        "task": "apps.core.tasks.purge_expired_idempotency_keys",
        "schedule": timedelta(minutes=15),
    },
    "sweep-outbox": {
        "task": "apps.execution.tasks.sweep_outbox",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
    "reconcile-accounts": {
        "task": "apps.execution.tasks.reconcile_active_accounts",
        "schedule": timedelta(seconds=int(os.environ.get("RECONCILE_INTERVAL_SECONDS", "60"))),
    },
    "risk-watchdog": {
        "task": "apps.risk.tasks.watchdog",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
    "supervise-strategies": {
        "task": "apps.strategy.tasks.supervise_strategies",
        "schedule": timedelta(seconds=float(os.environ.get("STRATEGY_SUPERVISE_INTERVAL_SECONDS", "5"))),
        "options": {"expires": 5},
    },
    "poll-candles": {
        "task": "apps.strategy.tasks.poll_candles",
        "schedule": timedelta(seconds=float(os.environ.get("CANDLE_POLL_INTERVAL_SECONDS", "10"))),
        "options": {"expires": 10},
    },
    "prune-outbox": {
        "task": "apps.execution.tasks.prune_outbox",
        "schedule": timedelta(hours=1),
    },
    # Hourly at :55, rewriting the UTC day's row: the 23:55 run leaves the end-of-day figure.
    "portfolio-daily-pnl-snapshots": {
        "task": "apps.portfolio.tasks.take_daily_snapshots",
        "schedule": crontab(minute=55),
        "options": {"expires": 30 * 60},
    },
    "portfolio-prune-processed-events": {
        "task": "apps.portfolio.tasks.prune_processed_events",
        "schedule": timedelta(hours=24),
    },
}
app.conf.beat_schedule = BEAT_SCHEDULE

app.autodiscover_tasks()
