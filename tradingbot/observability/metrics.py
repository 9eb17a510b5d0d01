"""GET /metrics: Prometheus text format, for allowed networks or the bearer token only.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, as it must be wherever Celery workers or
the stream process run) the event counters of every process are merged from their files;
the scrape-time collectors add what PostgreSQL and Redis know now.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import Metric

from .collectors import ScrapeCollector


class _ThisProcess:
    """The default registry (this process's metrics) when not in multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(ScrapeCollector())
    return registry


def _bearer_token_matches(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        address = ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_allowed(request: HttpRequest) -> bool:
    """Either rule admits: the peer's address (REMOTE_ADDR, never a forwarded header) is in
    METRICS_ALLOWED_NETWORKS, or the request bears METRICS_TOKEN."""
    return _bearer_token_matches(request) or _from_allowed_network(request)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        response = HttpResponse("forbidden: metrics are for the monitoring network or token\n", status=403)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(build_registry()), content_type=CONTENT_TYPE_LATEST)
