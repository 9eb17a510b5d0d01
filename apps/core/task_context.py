"""Log context for Celery tasks: the request id travels as a message header; a running task
binds its id, name, that request id and its `order_id` / `account_id` argument."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

from celery import signals

from apps.core.logcontext import bind, current_context, unbind

_ARGUMENTS = ("order_id", "account_id", "client_order_id")


def _add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_context().get("request_id")
    if headers is not None and request_id:
        headers["request_id"] = request_id


def _bind_task(task_id: str = "", task: Any = None, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    if task is None:
        return
    values: dict[str, Any] = {"task_id": task_id, "task": task.name}
    values["request_id"] = getattr(task.request, "request_id", None)
    values.update(_named_arguments(task, tuple(args or ()), dict(kwargs or {})))
    task.request.log_context_token = bind(**values)


def _unbind_task(task: Any = None, **_: Any) -> None:
    token = getattr(getattr(task, "request", None), "log_context_token", None)
    if token is not None:
        with contextlib.suppress(ValueError):  # bound in another context: nothing to undo here
            unbind(token)
        task.request.log_context_token = None


def _named_arguments(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound: dict[str, Any] = dict(inspect.signature(task.run).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        bound = kwargs
    return {name: bound[name] for name in _ARGUMENTS if name in bound}


def connect() -> None:
    """Called once from CoreConfig.ready (weak=False: the handlers are module functions)."""
    signals.before_task_publish.connect(_add_request_id, weak=False)
    signals.task_prerun.connect(_bind_task, weak=False)
    signals.task_postrun.connect(_unbind_task, weak=False)
