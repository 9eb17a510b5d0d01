from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.core.domain import OrderStatus
from apps.core.models import IdempotencyKey
from apps.core.tests.factories import access_token_for
from apps.execution import gates
from apps.execution.api.serializers import OrderOutputSerializer, order_representation
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
def test_order_intake_loads_the_caller_once(api_client, account, instrument) -> None:
    """The Idempotency-Key middleware authenticates the bearer token; DRF reuses its result."""
    with CaptureQueriesContext(connection) as queries:
        response = post_order(api_client, {**VALID, "account": account.pk})

    assert response.status_code == 201, response.json()
    user_reads = [q["sql"] for q in queries.captured_queries if 'FROM "auth_user"' in q["sql"]]
    assert len(user_reads) == 1, user_reads


@pytest.mark.django_db(transaction=True)
def test_key_claim_order_and_stored_response_commit_once(api_client, account, instrument) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = post_order(api_client, {**VALID, "account": account.pk}, key="one-commit")

    assert response.status_code == 201
    sql = [q["sql"].strip() for q in queries.captured_queries]
    commits = [i for i, s in enumerate(sql) if s.upper().startswith("COMMIT")]
    key_writes = [i for i, s in enumerate(sql) if "core_idempotencykey" in s]
    assert len(commits) == 1, sql
    assert len(key_writes) == 2, sql
    assert max(key_writes) < commits[0], sql
    key = IdempotencyKey.objects.get(key="one-commit")
    assert (key.state, key.response_status) == (IdempotencyKey.State.COMPLETED, 201)
    assert key.response_body is not None
    assert bytes(key.response_body) == response.content


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_make_one_order(user, account, instrument, restore_gates) -> None:
    """The second request arrives while the first holds its uncommitted key row (its risk
    check is slow): it waits for the first to commit and answers with its replay."""
    inside_check = threading.Event()

    def slow_check(proposal: gates.OrderProposal) -> gates.Verdict:
        inside_check.set()
        threading.Event().wait(0.5)
        return gates.Verdict(approved=True)

    gates.register_pre_trade_check(slow_check)
    token = access_token_for(user)
    body = {**VALID, "account": account.pk}
    results: dict[str, tuple[int, bool, bytes]] = {}

    def send(name: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            response = post_order(client, body, key="race")
            replayed = response.get("Idempotent-Replayed") == "true"
            results[name] = (response.status_code, replayed, response.content)
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert inside_check.wait(10)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    first.join()
    second.join()

    assert Order.objects.count() == 1
    assert results["first"][:2] == (201, False)
    assert results["second"] == (201, True, results["first"][2])


@pytest.mark.django_db
def test_failed_intake_leaves_no_key_and_a_retry_runs(api_client, account, instrument, restore_gates) -> None:
    def broken_check(proposal: gates.OrderProposal) -> gates.Verdict:
        raise RuntimeError("risk exploded")

    gates.register_pre_trade_check(broken_check)
    api_client.raise_request_exception = False
    body = {**VALID, "account": account.pk}

    failed = post_order(api_client, body, key="retry-me")

    assert failed.status_code == 500
    assert not IdempotencyKey.objects.exists()
    assert not Order.objects.exists()
    gates.register_pre_trade_check(lambda proposal: gates.Verdict(approved=True))
    retried = post_order(api_client, body, key="retry-me")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_same_key_other_order_is_422_and_writes_nothing(api_client, account, instrument) -> None:
    assert post_order(api_client, {**VALID, "account": account.pk}, key="k").status_code == 201
    other = post_order(api_client, {**VALID, "account": account.pk, "quantity": "0.002"}, key="k")

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert list(Order.objects.values_list("quantity", flat=True)) == [Decimal("0.001")]


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


@pytest.mark.django_db
def test_order_representation_is_the_output_serializers(account) -> None:
    """The intake's cheaper rendering gives exactly what the list and detail endpoints give."""
    orders = [
        OrderFactory.create(account=account),
        OrderFactory.create(
            account=account,
            status=OrderStatus.PARTIALLY_FILLED,
            filled_quantity=Decimal("0.0005"),
            average_fill_price=Decimal("29999.5"),
            cumulative_quote=Decimal("14.99975"),
            fees={"BNB": "0.00001"},
            exchange_order_id="123",
            strategy_id=7,
        ),
    ]
    for order in orders:
        order.refresh_from_db()
        assert order_representation(order) == OrderOutputSerializer(order).data
    fresh = Order(account=account, symbol="BTCUSDT", side="BUY", order_type="MARKET", quantity=Decimal("1"))
    assert order_representation(fresh) == OrderOutputSerializer(fresh).data
