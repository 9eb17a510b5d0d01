"""Venue request metrics: the weight Binance says our IP used this minute, requests sent.

`X-MBX-USED-WEIGHT-1M` is the venue's own running total for the IP (all our processes
share it), so the gauge keeps the most recent value any process saw (multiprocess mode
`mostrecent`), labelled by the venue's host.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge

EXCHANGE_WEIGHT_USED = Gauge(
    "tradingbot_exchange_weight_used_1m",
    "Request weight used in the current minute, from X-MBX-USED-WEIGHT-1M",
    ["venue"],
    multiprocess_mode="mostrecent",
)
EXCHANGE_REQUESTS = Counter(
    "tradingbot_exchange_requests_total", "REST requests sent to the venue", ["venue"]
)


@lru_cache(maxsize=32)
def venue_label(api_url: str) -> str:
    return urlsplit(api_url).netloc or api_url


def observe_response(api_url: str, headers: Mapping[str, str] | None) -> None:
    """Count one request and record the venue's weight header when present."""
    venue = venue_label(api_url)
    EXCHANGE_REQUESTS.labels(venue).inc()
    value = (headers or {}).get("X-MBX-USED-WEIGHT-1M") or (headers or {}).get("x-mbx-used-weight-1m")
    if value is not None and value.isdigit():
        EXCHANGE_WEIGHT_USED.labels(venue).set(int(value))
