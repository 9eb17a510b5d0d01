from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from apps.candles import services

from .factories import T0, candle

pytestmark = pytest.mark.django_db
URL = "/api/v1/candles/"


@pytest.fixture
def series() -> None:
    services.upsert_candles(
        symbol="BTCUSDT", interval="1m", candles=[candle(i, f"{100 + i}.5") for i in range(25)]
    )


def test_requires_authentication(series: None) -> None:
    response = APIClient().get(URL, {"symbol": "BTCUSDT", "interval": "1m"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_lists_a_range_with_decimal_strings(api_client: APIClient, series: None) -> None:
    response = api_client.get(
        URL,
        {
            "symbol": "BTCUSDT",
            "interval": "1m",
            "start": "2024-01-01T00:02:00Z",
            "end": "2024-01-01T00:05:00Z",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["symbol"], body["interval"], body["next"], body["next_start"]) == (
        "BTCUSDT",
        "1m",
        None,
        None,
    )
    assert [row["open_time"] for row in body["results"]] == [
        "2024-01-01T00:02:00Z",
        "2024-01-01T00:03:00Z",
        "2024-01-01T00:04:00Z",
    ]
    first = body["results"][0]
    assert first["open"] == "102.500000000000000000"
    assert first["high"] == "103.500000000000000000"
    assert first["volume"] == "2.000000000000000000"
    assert first["close_time"] == "2024-01-01T00:02:59.999000Z"


def test_accepts_epoch_milliseconds(api_client: APIClient, series: None) -> None:
    start_ms = int((T0 + timedelta(minutes=20)).timestamp() * 1000)
    body = api_client.get(URL, {"symbol": "BTCUSDT", "interval": "1m", "start": str(start_ms)}).json()
    assert len(body["results"]) == 5
    assert body["results"][0]["open_time"] == "2024-01-01T00:20:00Z"


def test_pages_follow_next(api_client: APIClient, series: None) -> None:
    seen: list[str] = []
    url: str | None = f"{URL}?symbol=BTCUSDT&interval=1m&limit=10"
    pages = 0
    while url:
        body = api_client.get(url).json()
        seen += [row["open_time"] for row in body["results"]]
        url = body["next"]
        pages += 1
        if url:
            assert parse_qs(urlsplit(url).query)["limit"] == ["10"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25


def test_unknown_series_is_an_empty_page(api_client: APIClient) -> None:
    body = api_client.get(URL, {"symbol": "ETHUSDT", "interval": "1h"}).json()
    assert body["results"] == []


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"interval": "1m"}, "symbol", "required"),
        ({"symbol": "BTCUSDT"}, "interval", "required"),
        ({"symbol": "btc-usdt", "interval": "1m"}, "symbol", "invalid"),
        ({"symbol": "BTCUSDT", "interval": "7m"}, "interval", "invalid_choice"),
        ({"symbol": "BTCUSDT", "interval": "1m", "start": "yesterday"}, "start", "invalid"),
        ({"symbol": "BTCUSDT", "interval": "1m", "end": "2024-13-01"}, "end", "invalid"),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, "limit", "min_value"),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "1001"}, "limit", "max_value"),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "ten"}, "limit", "invalid"),
        (
            {
                "symbol": "BTCUSDT",
                "interval": "1m",
                "start": "2024-01-02T00:00:00Z",
                "end": "2024-01-01T00:00:00Z",
            },
            "end",
            "invalid",
        ),
    ],
)
def test_invalid_parameters_name_the_field(
    api_client: APIClient, params: dict[str, str], field: str, code: str
) -> None:
    response = api_client.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
