"""Caps on what the hidden tests read from the candidate's app: a pytest plugin.

The hidden tests run in the trusted process, outside the sandbox, and httpx reads each answer
into memory whole: an app that streams gigabytes would grow the grader until the host's OOM
killer picks a victim (the worker, PostgreSQL, Redis). run_hidden_tests loads this plugin with
``-p grader.http_caps``, so every hidden test gets the caps without being rewritten:

- every answer read through an ``httpx.HTTPTransport`` is streamed and stopped at
  ``GRADER_MAX_RESPONSE_BYTES`` (the test fails with "the answer exceeded 10 MB"), and must be
  read whole within ``GRADER_REQUEST_TIMEOUT`` seconds (a trickle fails the test too);
- answers are asked for uncompressed and read as sent, so a small gzip bomb is not inflated;
- the process's address space is capped at ``GRADER_MEMORY_BYTES`` (RLIMIT_AS), a backstop
  for whatever else could blow up: that run fails, never the worker;
- once the file ``GRADER_STOP_FILE`` exists (the grader creates it when the run nears its time
  limit, judged on CPU and own time: grader.clock), every further request fails at once, so the
  tests end with a report in time.
"""

from __future__ import annotations

import os
import resource
import time

import httpx

MAX_RESPONSE_ENV = "GRADER_MAX_RESPONSE_BYTES"
MEMORY_ENV = "GRADER_MEMORY_BYTES"
TIMEOUT_ENV = "GRADER_REQUEST_TIMEOUT"
STOP_FILE_ENV = "GRADER_STOP_FILE"
DEFAULT_MAX_RESPONSE = 10 * 1024 * 1024


class AnswerTooLarge(httpx.ReadError):
    """The app's answer was bigger than the grader reads."""


class AnswerTooSlow(httpx.ReadTimeout):
    """The app's answer did not arrive whole in time."""


class NotSent(httpx.TimeoutException):
    """Not sent: the hidden tests' run used up its time."""


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


class CappedStream(httpx.SyncByteStream):
    """An answer's body, read chunk by chunk and stopped at ``limit`` bytes or at ``deadline``."""

    def __init__(self, stream: httpx.SyncByteStream, *, request: httpx.Request, limit: int, deadline: float) -> None:
        self._stream = stream
        self._request = request
        self._limit = limit
        self._deadline = deadline

    def __iter__(self):
        received = 0
        for chunk in self._stream:
            received += len(chunk)
            if received > self._limit:
                raise AnswerTooLarge(f"the answer exceeded {_megabytes(self._limit)}", request=self._request)
            if time.monotonic() > self._deadline:
                raise AnswerTooSlow("the answer did not arrive whole in time", request=self._request)
            yield chunk

    def close(self) -> None:
        self._stream.close()


def cap_response(send, request: httpx.Request, *, limit: int, timeout: float) -> httpx.Response:
    """Send ``request`` with ``send`` and return its response with a capped body."""
    request.headers["Accept-Encoding"] = "identity"
    started = time.monotonic()
    response = send(request)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise AnswerTooLarge(f"the answer exceeded {_megabytes(limit)}", request=request)
    # Read as sent: httpx would otherwise inflate an encoding we did not ask for, past any cap.
    response.headers.pop("Content-Encoding", None)
    response.stream = CappedStream(response.stream, request=request, limit=limit, deadline=started + timeout)
    return response


def install(*, limit: int, timeout: float, stop_file: str | None = None) -> None:
    """Cap every answer read through httpx.HTTPTransport in this process (what the hidden tests use)."""
    original = getattr(httpx.HTTPTransport.handle_request, "__wrapped__", httpx.HTTPTransport.handle_request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if stop_file and os.path.exists(stop_file):
            raise NotSent("not sent: the hidden tests ran out of time; the app answered too slowly", request=request)
        return cap_response(lambda r: original(self, r), request, limit=limit, timeout=timeout)

    handle_request.__wrapped__ = original
    httpx.HTTPTransport.handle_request = handle_request


def limit_memory(size: int) -> None:
    """Cap this process's address space: an allocation past it fails (MemoryError), not the host."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        size = min(size, hard)
    resource.setrlimit(resource.RLIMIT_AS, (size, hard))


def pytest_configure(config) -> None:
    install(
        limit=int(os.environ.get(MAX_RESPONSE_ENV) or DEFAULT_MAX_RESPONSE),
        timeout=float(os.environ.get(TIMEOUT_ENV) or 5),
        stop_file=os.environ.get(STOP_FILE_ENV),
    )
    memory = os.environ.get(MEMORY_ENV)
    if memory:
        limit_memory(int(memory))
