"""Structured logs: who and what a log line is about, carried in contextvars.

A request binds its id (RequestIdMiddleware) and its request (the user is read lazily, once
DRF or the session has authenticated it); a Celery task binds its id, name, the request id it
was queued under and any `order_id` / `account_id` argument; code that knows more binds it
with `log_context(order_id=…, client_order_id=…)`. `ContextFilter` copies the bound values
onto every record, `JsonFormatter` writes one JSON object per line (LOG_FORMAT=json).

Why contextvars: they follow a request through threads started with `asyncio.to_thread` and
each asyncio task (one per streamed account) keeps its own values.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.utils.functional import empty

CONTEXT_FIELDS = ("request_id", "user_id", "account_id", "order_id", "client_order_id", "task_id", "task")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)
_request: contextvars.ContextVar[Any] = contextvars.ContextVar("log_request", default=None)


def current_context() -> dict[str, Any]:
    """The values bound now (a copy), including the authenticated user of the request."""
    values = dict(_context.get() or {})
    user_id = _request_user_id(_request.get())
    if user_id is not None:
        values.setdefault("user_id", user_id)
    return values


def bind(**values: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add values to the current context; returns a token for `unbind`."""
    merged = {**(_context.get() or {}), **{k: v for k, v in values.items() if v not in (None, "")}}
    return _context.set(merged)


def unbind(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


@contextlib.contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind values for the duration of a block."""
    token = bind(**values)
    try:
        yield
    finally:
        unbind(token)


def bind_request(request: Any) -> contextvars.Token[Any]:
    return _request.set(request)


def unbind_request(token: contextvars.Token[Any]) -> None:
    _request.reset(token)


def _request_user_id(request: Any) -> Any:
    """The user id if the request's user is already known; never triggers a lookup."""
    if request is None:
        return None
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # Django's SimpleLazyObject, maybe not evaluated
    if wrapped is None or wrapped is empty:  # a lazy user nobody has looked at yet
        return None
    if getattr(wrapped, "is_authenticated", False):
        return getattr(wrapped, "pk", None)
    return None


class ContextFilter(logging.Filter):
    """Puts every context field on the record (None when unbound) for both formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = current_context()
        # Django logs 4xx/5xx after the middleware has returned, passing the request itself.
        request = getattr(record, "request", None)
        if request is not None and "request_id" not in values:
            values["request_id"] = getattr(request, "request_id", None)
            values.setdefault("user_id", _request_user_id(request))
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, values.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    """The classic line, followed by whichever context fields are bound (key=value)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None)
        )
        return f"{line} [{extra}]" if extra else line
