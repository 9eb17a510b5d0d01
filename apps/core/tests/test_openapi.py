"""The OpenAPI document states every operation's error answers in the one error shape."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.mark.django_db
def test_every_operation_documents_its_errors_with_the_error_schema(schema: dict) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert "kill_switch_active" in error["properties"]["error"]["properties"]["code"]["enum"]
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "404", "429"} <= set(responses), f"{method} {path}"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", f"{method} {path} {status}"
            checked += 1
    assert checked > 30


@pytest.mark.django_db
def test_order_intake_documents_its_preconditions(schema: dict) -> None:
    post = schema["paths"]["/api/v1/orders/"]["post"]
    assert {"200", "201", "409", "422"} <= set(post["responses"])
    assert "kill_switch_active" in post["responses"]["409"]["description"]
    assert "risk_limit_exceeded" in post["responses"]["422"]["description"]
    start = schema["paths"]["/api/v1/strategies/{id}/start/"]["post"]
    assert "strategy_not_startable" in start["description"]
