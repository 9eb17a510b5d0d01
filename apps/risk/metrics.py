"""Risk's metrics (docs/MONITORING.md): validation latency and rejections by reason are
events (multiprocess counters, observed where execution asks risk); the kill switch and
risk's availability are read from Redis when /metrics is scraped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.risk.services import redis_keys
from apps.risk.services.health import risk_unavailable_reason
from apps.risk.services.kill_switch import kill_switch_state

RISK_VALIDATION_SECONDS = Histogram(
    "tradingbot_risk_validation_seconds",
    "Pre-trade risk validation time (cache hits included)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RISK_REJECTIONS = Counter(
    "tradingbot_risk_rejections_total", "Orders refused by pre-trade risk, by reason code", ["reason"]
)


def observe_validation(started: float, denials: Any) -> None:
    """Record one validation: its duration and each reason it refused the order for."""
    RISK_VALIDATION_SECONDS.observe(time.perf_counter() - started)
    for denial in denials:
        RISK_REJECTIONS.labels(denial.code).inc()


class RiskCollector:
    def collect(self) -> Iterator[Metric]:
        state = kill_switch_state()
        yield GaugeMetricFamily(
            "tradingbot_kill_switch_active",
            "1 while the kill switch is on (or unreadable)",
            value=int(state.active),
        )
        if state.changed_at is not None:
            yield GaugeMetricFamily(
                "tradingbot_kill_switch_changed_timestamp_seconds",
                "When the kill switch last changed (Unix time)",
                value=state.changed_at.timestamp(),
            )
        heartbeat = redis_keys.client().get(redis_keys.key("heartbeat"))
        if heartbeat is not None:
            yield GaugeMetricFamily(
                "tradingbot_risk_heartbeat_age_seconds",
                "Seconds since a risk worker last published its heartbeat",
                value=max(0.0, time.time() - float(heartbeat)),  # type: ignore[arg-type]
            )
        yield GaugeMetricFamily(
            "tradingbot_risk_available",
            "1 if risk answers (fresh heartbeat, validations not failing), as the watchdog judges",
            value=0 if risk_unavailable_reason() else 1,
        )
