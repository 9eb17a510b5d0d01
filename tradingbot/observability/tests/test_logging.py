"""Structured logs: request id (X-Request-ID), user, account, order and client order id."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from apps.core import task_context
from apps.core.logcontext import ContextFilter, JsonFormatter, PlainFormatter, current_context, log_context
from apps.core.request_id import HEADER
from tradingbot.celery import app as celery_app

logger = logging.getLogger("tradingbot.tests.logging")


def formatted(record_message: str, formatter: logging.Formatter, exc_info=None) -> str:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, record_message, (), exc_info)
    ContextFilter().filter(record)
    return formatter.format(record)


def test_json_lines_carry_the_bound_context_and_exceptions() -> None:
    with log_context(account_id=3, order_id=42, client_order_id="cid-1"):
        try:
            raise ValueError("boom")
        except ValueError:
            import sys  # noqa: PLC0415

            line = json.loads(formatted("placing", JsonFormatter(), sys.exc_info()))
    assert line["message"] == "placing"
    assert (line["account_id"], line["order_id"], line["client_order_id"]) == (3, 42, "cid-1")
    assert "ValueError: boom" in line["exception"]
    assert line["level"] == "WARNING"
    assert "request_id" not in line  # unbound fields are left out
    assert current_context() == {}  # the block unbound everything


def test_plain_lines_append_the_bound_fields() -> None:
    formatter = PlainFormatter("%(levelname)s %(message)s")
    with log_context(order_id=7):
        assert formatted("hello", formatter) == "WARNING hello [order_id=7]"
    assert formatted("hello", formatter) == "WARNING hello"


@pytest.mark.django_db
def test_a_request_gets_an_id_echoed_and_bound_with_its_user(api_client, user, caplog) -> None:
    seen: dict = {}

    def capture(record: logging.LogRecord) -> bool:
        ContextFilter().filter(record)
        seen.update(request_id=record.request_id, user_id=record.user_id)  # type: ignore[attr-defined]
        return True

    handler = logging.getLogger("django.request")
    handler.addFilter(capture)
    try:
        response = api_client.get("/api/v1/orders/999999/", headers={HEADER: "req-abc.123"})
    finally:
        handler.removeFilter(capture)
    assert response.status_code == 404
    assert response[HEADER] == "req-abc.123"
    assert seen == {"request_id": "req-abc.123", "user_id": user.pk}


def test_an_unusable_incoming_id_is_replaced() -> None:
    response = Client().get("/health/", headers={HEADER: "bad id with spaces\n"})
    assert response[HEADER] != "bad id with spaces\n"
    assert len(response[HEADER]) == 32
    assert Client().get("/health/")[HEADER] != response[HEADER]


@celery_app.task(name="tradingbot.tests.log_probe")
def log_probe(order_id: int, account_id: int | None = None) -> dict:
    return current_context()


def test_a_task_binds_its_id_name_and_order_and_account_arguments() -> None:
    context = log_probe.apply(args=(11,), kwargs={"account_id": 5}, task_id="t-1").get()
    assert context["order_id"] == 11
    assert context["account_id"] == 5
    assert (context["task_id"], context["task"]) == ("t-1", "tradingbot.tests.log_probe")
    assert current_context() == {}  # unbound after the task


def test_queued_tasks_carry_the_request_id_header() -> None:
    headers: dict = {}
    with log_context(request_id="req-1"):
        task_context._add_request_id(headers=headers)
    assert headers == {"request_id": "req-1"}
