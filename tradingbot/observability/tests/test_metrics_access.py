"""/metrics answers the allowed networks or the bearer token, nobody else; a failing
scrape-time collector is reported, never a failed scrape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from tradingbot.observability.collectors import ScrapeCollector, queue_keys

from .helpers import scrape, value

TOKEN = "s3cret-metrics-token-0123456789"


def get(remote: str, authorization: str | None = None) -> int:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return Client().get("/metrics", REMOTE_ADDR=remote, **headers).status_code  # type: ignore[arg-type]


@pytest.mark.django_db
def test_loopback_is_allowed_by_default_and_gets_prometheus_text() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"tradingbot_orders{" in response.content
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.mark.django_db
def test_other_networks_are_refused_without_the_token() -> None:
    assert get("203.0.113.9") == 403
    assert get("203.0.113.9", f"Bearer {TOKEN}") == 403  # no token configured: none accepted
    assert get("not-an-address") == 403


@pytest.mark.django_db
@override_settings(METRICS_TOKEN=TOKEN)
def test_the_bearer_token_admits_any_address_and_a_wrong_one_does_not() -> None:
    assert get("203.0.113.9", f"Bearer {TOKEN}") == 200
    assert get("203.0.113.9", f"Bearer {TOKEN}x") == 403
    assert get("203.0.113.9", f"Basic {TOKEN}") == 403
    assert get("203.0.113.9") == 403


@pytest.mark.django_db
@override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"])
def test_allowed_networks_are_configurable_and_replace_loopback() -> None:
    assert get("10.20.30.40") == 200
    assert get("127.0.0.1") == 403
    assert get("::1") == 403


class Broken:
    def collect(self) -> Iterator[Metric]:
        raise RuntimeError("source down")
        yield  # pragma: no cover


class Fine:
    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("tradingbot_probe", "probe", value=7)


@pytest.mark.django_db
def test_a_failing_collector_is_reported_and_the_others_still_answer() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector({"broken": Broken(), "fine": Fine()}))
    text = generate_latest(registry).decode()
    assert "tradingbot_probe 7.0" in text
    assert 'tradingbot_collector_up{collector="broken"} 0.0' in text
    assert 'tradingbot_collector_up{collector="fine"} 1.0' in text


@pytest.mark.django_db
def test_every_real_collector_answers() -> None:
    samples = scrape()
    ups = {labels: v for (name, labels), v in samples.items() if name == "tradingbot_collector_up"}
    assert len(ups) == 8
    assert set(ups.values()) == {1.0}, ups


@pytest.mark.django_db
def test_celery_queue_length_counts_every_priority_sub_queue() -> None:
    import redis  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = queue_keys("backtest")
    try:
        client.delete(*keys)
        client.rpush(keys[0], "a", "b")
        client.rpush(keys[2], "c")
        assert value(scrape(), "tradingbot_celery_queue_length", queue="backtest") == 3
    finally:
        client.delete(*keys)
