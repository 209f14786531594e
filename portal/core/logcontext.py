"""What a log record is about: the request, invite, run and Celery task it was written for.

The fields live in a ``contextvars.ContextVar``, so each thread of gunicorn and each task of a
worker sees only its own, and the JSON formatter (portal/core/logformat.py) adds them to every
record. Three places set them:

* :class:`RequestIdMiddleware` gives each request an id (``X-Request-ID``, in and out) and clears
  everything when the response is closed: after the last byte of a streamed git response, so that
  the push a clone or push records is logged with its request;
* the task signals connected in portal/celery.py (:func:`task_begin`, :func:`task_end`) bind the
  task's name and id, and the run or invite its keyword arguments name;
* code that learns what it works on binds it: :func:`bound` for a block, :func:`bind` for the rest
  of the request or task (the git endpoint binds the invite once it has checked the credentials).

Standard library only: portal/celery.py imports it before Django is set up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

# The fields a record may carry, in the order the JSON formatter writes them.
FIELDS = ("request_id", "invite", "run", "task", "task_id")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# Never changed in place: each binding sets a new mapping, so a reset restores exactly the old one.
_fields: ContextVar[Mapping[str, Any]] = ContextVar("portal_log_context", default=_EMPTY)

# An incoming id is kept only if it is short and plain, since it is written into every log line
# and echoed in a response header: anything else (spaces, newlines, quotes, 200 characters) is
# replaced by a fresh one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_HEADER = "X-Request-ID"


def current() -> Mapping[str, Any]:
    """The fields bound now (read-only)."""
    return _fields.get()


def _with(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log context fields: {', '.join(sorted(unknown))}")
    merged = dict(_fields.get())
    merged.update((name, value) for name, value in fields.items() if value is not None)
    return MappingProxyType(merged)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (``invite=``, ``run=``...) to every record written inside the block."""
    token = _fields.set(_with(fields))
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: Any) -> None:
    """Bind ``fields`` for the rest of the current request or task, which clears them when it ends."""
    _fields.set(_with(fields))


def request_id_for(incoming: str | None) -> str:
    """The incoming id if it matches :data:`REQUEST_ID`, else a new one."""
    if incoming and REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give every request an id, bind it for its log records and return it in ``X-Request-ID``.

    A proxy or a client may send its own id, which is kept when it is plain (:data:`REQUEST_ID`),
    so the proxy's log and the portal's can be joined. First in MIDDLEWARE: records written by
    the other middleware carry the id too, and so does Django's "Not Found" or "Internal Server
    Error" line, written after the middleware has returned; the fields are cleared when the
    response is closed, not before, so a thread that serves the next request starts with none.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        # Set, not merged: whatever the thread's previous request left is not this one's.
        _fields.set(MappingProxyType({"request_id": request_id}))
        try:
            response = self.get_response(request)
        except BaseException:
            _fields.set(_EMPTY)
            raise
        response[REQUEST_ID_HEADER] = request_id
        # The same hook Django closes the request with; the server closes every response.
        response._resource_closers.append(_clear)
        return response


def _clear() -> None:
    _fields.set(_EMPTY)


# Tokens of the tasks running in this thread, by task id: a task run eagerly inside a request (or
# inside another task) gets the request's fields back when it ends.
_task_tokens: dict[str, Token] = {}


def task_begin(*, task: str, task_id: str | None, kwargs: Mapping[str, Any] | None) -> None:
    """Bind a Celery task and the run or invite its keyword arguments name (``run_id``, ``invite_id``)."""
    kwargs = kwargs or {}
    fields = {"task": task, "task_id": task_id, "run": kwargs.get("run_id"), "invite": kwargs.get("invite_id")}
    token = _fields.set(_with(fields))
    if task_id is not None:
        _task_tokens[task_id] = token


def task_end(*, task_id: str | None) -> None:
    """Unbind what :func:`task_begin` bound for the task ``task_id``."""
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        try:
            _fields.reset(token)
            return
        except (ValueError, RuntimeError):  # begun in another context: start clean below
            pass
    _fields.set(_EMPTY)
