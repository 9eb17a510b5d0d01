"""What API fuzzing (tradingbot/tests/test_demo_e2e.py) found, fixed, each pinned here: every
error is a clean 4xx in the one error shape, and every answer is the one the schema states."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.api.error_views import not_found, server_error
from apps.core.errors import ErrorCode
from apps.core.tests.factories import UserFactory, access_token_for
from apps.execution.models import ExchangeAccount
from apps.execution.tests.factories import AccountFactory, OrderFactory
from apps.strategy.tests.factories import StrategyFactory


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field"} <= set(body["error"]), body
    return body["error"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/backtests/null,null/",
        "/api/v1/backtests/true/equity/",
        "/api/v1/backtests/%C2%B2/orders/",  # '²': isdigit() but not int()
        "/api/v1/orders/%C2%B2/",
        "/api/v1/strategies/%C2%B2/",
        "/api/v1/strategies/1.5e-3/start/",  # no route matches
        "/api/v1/no-such-thing/",
    ],
)
def test_an_id_that_is_no_id_is_a_json_404(api_client: APIClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert _error(response)["code"] == ErrorCode.NOT_FOUND


@pytest.mark.django_db
def test_pages_outside_the_api_keep_djangos_404(client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_unhandled_error_under_the_api_is_a_json_500_elsewhere_a_page() -> None:
    api = server_error(RequestFactory().get("/api/v1/orders/"))
    page = server_error(RequestFactory().get("/admin/"))
    assert api.status_code == page.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert b'"code": "internal_error"' in api.content
    assert page["Content-Type"].startswith("text/html")
    assert not_found(RequestFactory().get("/api/x"), None)["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_time_filters_take_any_utc_offset(api_client: APIClient, user) -> None:
    """PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows: converted to UTC first."""
    order = OrderFactory.create(account=AccountFactory.create(owner=user))
    hour_ago = (timezone.now() - timedelta(hours=1)).astimezone(timezone.get_fixed_timezone(17 * 60 + 59))
    listed = api_client.get("/api/v1/orders/", {"created_after": hour_ago.isoformat()})
    assert listed.status_code == 200, listed.json()
    assert [o["id"] for o in listed.json()["results"]] == [order.pk]
    far = api_client.get("/api/v1/fills/", {"executed_after": "7976-02-15T13:47:17.781002+17:59"})
    assert (far.status_code, far.json()["results"]) == (200, [])


@pytest.mark.django_db
def test_an_instant_without_a_utc_equivalent_is_invalid_input(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/fills/", {"executed_before": "0001-01-01T00:30:00+01:00"})
    assert response.status_code == 400
    error = _error(response)
    assert (error["field"], error["code"]) == ("executed_before", "invalid")


@pytest.mark.django_db
def test_a_second_account_with_the_same_name_is_a_409_on_name(api_client: APIClient, user) -> None:
    body = {"name": "main", "mode": "simulated"}
    assert api_client.post("/api/v1/accounts/", body, format="json").status_code == 201

    again = api_client.post("/api/v1/accounts/", body, format="json")

    assert again.status_code == 409
    error = _error(again)
    assert (error["code"], error["field"]) == (ErrorCode.CONFLICT, "name")
    assert ExchangeAccount.objects.filter(owner=user).count() == 1


@pytest.mark.django_db
def test_me_without_an_email_matches_the_schema(client) -> None:
    user = UserFactory.create(email="")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    assert api.get("/api/v1/me/").json()["email"] == ""
    schema = yaml.safe_load(client.get("/api/schema/").content)
    email = schema["components"]["schemas"]["MeOutput"]["properties"]["email"]
    assert email["type"] == "string"
    assert "format" not in email


@pytest.mark.django_db
def test_the_schema_lists_field_validation_codes_and_the_token_401(client, api_client: APIClient) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    codes = schema["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert {c.value for c in ErrorCode} <= set(codes)
    blank = api_client.get("/api/v1/candles/", {"symbol": "", "interval": "1m"})
    wrong_choice = api_client.get("/api/v1/orders/", {"status": "null"})
    for response in (blank, wrong_choice):
        assert response.status_code == 400
        assert _error(response)["code"] in codes
    for path in ("/api/v1/auth/token/", "/api/v1/auth/token/refresh/"):
        assert "401" in schema["paths"][path]["post"]["responses"]
    wrong_password = APIClient().post(
        "/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json"
    )
    assert wrong_password.status_code == 401
    assert _error(wrong_password)["code"] in codes


@pytest.mark.django_db
def test_an_if_match_that_is_no_version_number_is_a_400(api_client: APIClient, user) -> None:
    strategy = StrategyFactory.create(owner=user, account=AccountFactory.create(owner=user))
    response = api_client.patch(
        f"/api/v1/strategies/{strategy.pk}/", {"name": "renamed"}, format="json", headers={"If-Match": "²"}
    )
    assert response.status_code == 400
    assert _error(response)["field"] == "If-Match"


@pytest.mark.django_db
def test_event_histories_are_the_plain_lists_the_schema_states(client, api_client: APIClient, user) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    order = OrderFactory.create(account=AccountFactory.create(owner=user))
    strategy = StrategyFactory.create(owner=user)
    for path, pk in (
        ("/api/v1/orders/{id}/events/", order.pk),
        ("/api/v1/strategies/{id}/events/", strategy.pk),
    ):
        operation = schema["paths"][path]["get"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
        assert [p["name"] for p in operation.get("parameters", [])] == ["id"]  # no list filters
        response = api_client.get(path.format(id=pk), {"page_size": "0", "status": "FILLED"})
        assert response.status_code == 200
        assert isinstance(response.json(), list)
