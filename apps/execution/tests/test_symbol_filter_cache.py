"""The symbol filters every order is validated against come from the shared cache, and
every write of an instrument is seen by the next read (real PostgreSQL and Redis)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.core.cache import cache

from apps.core.errors import ValidationFailed
from apps.exchange import selectors
from apps.exchange.models import Instrument
from apps.exchange.selectors import get_symbol_filters
from apps.exchange.services import upsert_instrument
from apps.execution import services as execution_services
from apps.execution.tests.factories import BTCUSDT, AccountFactory

D = Decimal


def read() -> object:
    return get_symbol_filters(exchange="binance", symbol="BTCUSDT")


@pytest.mark.django_db
def test_filters_are_read_from_the_database_once_then_from_the_cache(django_assert_num_queries) -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    with django_assert_num_queries(1):
        first = read()
    with django_assert_num_queries(0):
        second = read()
    assert first == second == BTCUSDT


@pytest.mark.django_db
def test_an_upsert_is_seen_by_the_next_read() -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    assert read() == read() == BTCUSDT  # the second from the cache
    coarser = dataclasses.replace(BTCUSDT, tick_size=D("1"))
    upsert_instrument(exchange="binance", filters=coarser)
    assert read() == coarser


@pytest.mark.django_db
def test_a_deleted_or_halted_instrument_is_seen_by_the_next_read() -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    assert read() == BTCUSDT
    row = Instrument.objects.get(symbol="BTCUSDT")
    row.is_trading = False
    row.save()
    assert read() is None
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    assert read() == BTCUSDT
    Instrument.objects.filter(symbol="BTCUSDT").delete()  # a queryset delete sends the signal too
    assert read() is None


@pytest.mark.django_db
def test_a_copy_read_while_a_write_was_uncommitted_is_dropped_on_commit(
    django_capture_on_commit_callbacks,
) -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    coarser = dataclasses.replace(BTCUSDT, tick_size=D("1"))
    with django_capture_on_commit_callbacks(execute=True):
        upsert_instrument(exchange="binance", filters=coarser)
        # Another process read the old committed row after the write's first bump and
        # cached it under the current generation:
        generation = cache.get(selectors.GENERATION_KEY)
        cache.set(selectors._filters_key("binance", "BTCUSDT"), (generation, BTCUSDT))
        assert read() == BTCUSDT  # what such a process would see before the commit
    assert read() == coarser  # the commit's bump made that copy unusable


@pytest.mark.django_db
def test_a_copy_tagged_with_an_older_generation_is_not_used() -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    read()
    old = cache.get(selectors.GENERATION_KEY)
    coarser = dataclasses.replace(BTCUSDT, tick_size=D("1"))
    upsert_instrument(exchange="binance", filters=coarser)
    # A slow reader that read the generation and the old row before the write stores its copy late:
    cache.set(selectors._filters_key("binance", "BTCUSDT"), (old, BTCUSDT))
    assert read() == coarser


@pytest.mark.django_db
def test_a_lost_generation_distrusts_every_copy() -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    read()
    stale = dataclasses.replace(BTCUSDT, tick_size=D("7"))
    cache.delete(selectors.GENERATION_KEY)  # Redis lost it (eviction, failover)
    cache.set(selectors._filters_key("binance", "BTCUSDT"), (0, stale))
    assert read() == BTCUSDT
    assert read() == BTCUSDT  # and the restarted generation is not 0


@pytest.mark.django_db
def test_without_the_cache_filters_are_read_from_the_database(settings) -> None:
    upsert_instrument(exchange="binance", filters=BTCUSDT)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # closed port
            "KEY_PREFIX": "dead",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert read() == BTCUSDT
    upsert_instrument(exchange="binance", filters=BTCUSDT)  # a write does not fail either


@pytest.mark.django_db
def test_an_order_is_checked_against_filters_written_after_they_were_cached() -> None:
    account = AccountFactory.create()
    upsert_instrument(exchange="binance", filters=BTCUSDT)

    def submit() -> object:
        return execution_services.submit_order(
            account=account, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
            quantity=D("0.001"), price=D("30000.01"),
        )  # fmt: skip

    submit()  # accepted; the filters are now cached
    upsert_instrument(exchange="binance", filters=dataclasses.replace(BTCUSDT, tick_size=D("1")))
    with pytest.raises(ValidationFailed):
        submit()  # 30000.01 is off the new tick
