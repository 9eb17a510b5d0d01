from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.core.domain import OrderStatus
from apps.execution.crypto import decrypt_secret
from apps.execution.models import ExchangeAccount, Order, OrderEvent

from .factories import AccountFactory, OrderFactory

VALID = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "30000.00"}


@pytest.fixture
def account(user) -> ExchangeAccount:
    return AccountFactory.create(owner=user)


def post_order(client: APIClient, body: dict | str, key: str | None = None):
    payload = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        "/api/v1/orders/",
        payload,
        content_type="application/json",
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


@pytest.mark.django_db
def test_create_order_then_retry_with_the_same_key_replays(api_client, account, instrument) -> None:
    body = {**VALID, "account": account.pk, "client_order_id": "api-1"}
    first = post_order(api_client, body, key="k1")
    replay = post_order(api_client, body, key="k1")

    assert first.status_code == 201, first.json()
    data = first.json()
    assert (data["status"], data["quantity"], data["price"]) == (
        "NEW",
        "0.001000000000000000",
        "30000.000000000000000000",
    )
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_new_key_same_client_order_id_returns_existing_order(api_client, account, instrument) -> None:
    body = {**VALID, "account": account.pk, "client_order_id": "api-2"}
    assert post_order(api_client, body).status_code == 201
    again = post_order(api_client, body)
    assert again.status_code == 200
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_order_post_needs_an_idempotency_key(api_client, account, instrument) -> None:
    response = api_client.post("/api/v1/orders/", {**VALID, "account": account.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert not Order.objects.exists()


BAD_INPUT = [
    ({"quantity": "0"}, "quantity", "invalid"),
    ({"quantity": "-1"}, "quantity", "invalid"),
    ({"quantity": "NaN"}, "quantity", "invalid"),
    ({"quantity": "Infinity"}, "quantity", "invalid"),
    ({"price": "-Infinity"}, "price", "invalid"),
    ({"quantity": "1" * 40}, "quantity", "max_digits"),
    ({"price": "0." + "1" * 40}, "price", "max_digits"),
    ({"price": "0." + "1" * 19}, "price", "max_decimal_places"),
    ({"symbol": "NOPEUSDT"}, "symbol", "unknown_symbol"),
    ({"type": "MARKET"}, "price", "invalid"),
    ({"quantity": "0.000015"}, "quantity", "filter_lot_size"),
    ({"quantity": "0.0001"}, "quantity", "filter_min_notional"),
    ({"price": "30000.001"}, "price", "filter_price"),
    ({"side": "HOLD"}, "side", "invalid_choice"),
    ({"account": None}, "account", "null"),
    ({"client_order_id": "has spaces"}, "client_order_id", "invalid"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "field", "code"), BAD_INPUT)
def test_bad_input_is_400_with_code_and_field_and_writes_nothing(
    api_client, account, instrument, changes, field, code
) -> None:
    body = {**VALID, "account": account.pk, **changes}

    response = post_order(api_client, body)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code), error
    assert not Order.objects.exists()
    assert not OrderEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw", ['{"quantity": NaN}', '{"quantity": Infinity}', "{not json", '{"account": 1,'], ids=str
)
def test_malformed_json_is_400_parse_error(api_client, account, instrument, raw) -> None:
    response = post_order(api_client, raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_json_number_quantities_are_taken_exactly(api_client, account, instrument) -> None:
    raw = json.dumps({**VALID, "account": account.pk}).replace('"0.001"', "0.001")
    response = post_order(api_client, raw)
    assert response.status_code == 201
    assert Order.objects.get().quantity == Decimal("0.001")


@pytest.mark.django_db
def test_user_b_cannot_read_list_or_cancel_user_a_orders(api_client, other_api_client, account) -> None:
    order = OrderFactory.create(account=account, status=OrderStatus.SUBMITTED)

    assert api_client.get(f"/api/v1/orders/{order.pk}/").status_code == 200
    assert other_api_client.get(f"/api/v1/orders/{order.pk}/").status_code == 404
    assert other_api_client.get(f"/api/v1/orders/{order.pk}/events/").status_code == 404
    assert other_api_client.get("/api/v1/orders/").json()["results"] == []
    assert other_api_client.get("/api/v1/fills/").json()["results"] == []
    assert other_api_client.get("/api/v1/accounts/").json()["results"] == []
    cancel = other_api_client.post(f"/api/v1/orders/{order.pk}/cancel/", headers={"Idempotency-Key": "x"})
    assert cancel.status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


@pytest.mark.django_db
def test_user_b_cannot_place_orders_on_user_a_account(other_api_client, account, instrument) -> None:
    response = post_order(other_api_client, {**VALID, "account": account.pk})
    assert response.status_code == 404
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_cancel_and_events(api_client, account) -> None:
    order = OrderFactory.create(account=account, status=OrderStatus.SUBMITTED)

    response = api_client.post(f"/api/v1/orders/{order.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "CANCEL_REQUESTED"
    events = api_client.get(f"/api/v1/orders/{order.pk}/events/").json()
    assert [(e["from_status"], e["to_status"]) for e in events] == [("SUBMITTED", "CANCEL_REQUESTED")]

    filled = OrderFactory.create(account=account, status=OrderStatus.FILLED)
    refused = api_client.post(f"/api/v1/orders/{filled.pk}/cancel/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "illegal_transition"


@pytest.mark.django_db
def test_order_list_filters_and_cursor_pagination(api_client, account) -> None:
    for i in range(5):
        OrderFactory.create(
            account=account, status=OrderStatus.SUBMITTED if i % 2 else OrderStatus.FILLED, side="SELL"
        )
    OrderFactory.create(account=account, symbol="ETHUSDT", status=OrderStatus.SUBMITTED)

    submitted = api_client.get("/api/v1/orders/", {"status": "SUBMITTED", "symbol": "BTCUSDT"}).json()
    assert len(submitted["results"]) == 2
    page = api_client.get("/api/v1/orders/", {"page_size": 4}).json()
    rest = api_client.get(page["next"]).json()
    ids = [o["id"] for o in page["results"] + rest["results"]]
    assert len(ids) == 6
    assert ids == sorted(ids, reverse=True)


@pytest.mark.django_db
def test_account_credentials_are_encrypted_and_never_returned(api_client, user) -> None:
    response = api_client.post(
        "/api/v1/accounts/",
        {"name": "main", "mode": "testnet", "api_key": "KEY-PLAIN", "api_secret": "SECRET-PLAIN"},
        format="json",
    )

    assert response.status_code == 201
    assert "PLAIN" not in response.content.decode()
    assert response.json()["has_credentials"] is True
    stored = ExchangeAccount.objects.get(owner=user)
    assert "PLAIN" not in stored.api_key_encrypted + stored.api_secret_encrypted
    assert decrypt_secret(stored.api_secret_encrypted) == "SECRET-PLAIN"
    assert "PLAIN" not in api_client.get("/api/v1/accounts/").content.decode()
