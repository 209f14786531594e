"""Requests that reach the app at the same moment, for hidden tests of races and shared state.

Whether requests sent from threads reach the app together depends on how busy the machine is: on a
loaded one they arrive one after another, and an app that can't serve two at once is never caught.
``AtOnce`` (the plugin's ``at_once`` fixture) makes the app unable to tell: each request gets a
connection of its own and is written, byte for byte as httpx writes it, but for its last byte; once
an ordinary request sent after them is answered, the last bytes go out together, in one tight loop.
What the tests' own process does no longer spreads a burst out.

The requests are built by the tests' httpx client (its Host, the suite's deadline), dressed as a real
client's by grader.http_caps like every other request, and each answer is read within the request
timeout and the answer cap (``GRADER_MAX_RESPONSE_BYTES``), decoded by the same plugin if compressed.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import time
from collections.abc import Callable

import httpx

# The most the tests read of one answer: the cap the grader's http_caps plugin puts on every answer read through httpx.
MAX_ANSWER_BYTES = int(os.environ.get("GRADER_MAX_RESPONSE_BYTES") or 10 * 1024 * 1024)


class AtOnce:
    """Sends requests so that the app receives them all at the same moment, and reads their answers.

    Whether requests sent from threads reach the app together depends on how busy the machine
    is: on a loaded one they arrive one after another, and an app that can't serve two at once
    is never caught. Here the app can't tell: each request gets a connection of its own and is
    written whole but for its last byte (a server dispatches a request only once it is
    complete: for a GET, the last byte of its header block; for a POST, the last of its body,
    which FastAPI reads before it resolves any dependency). Then `first`, an ordinary request
    on a connection opened after all of those, is sent and answered: whatever accepts and
    forwards connections to the app (the worker's forwarding socket, uvicorn's event loop) takes
    them in order, so by its answer the held requests are with the app too. Only then do the
    last bytes go out, in one tight loop. If `first` gets no answer, they never go out.

    The requests are built by the client (its Host) and checked against the suite's deadline by
    its hooks, dressed as a real client's by the grader's plugin (`traffic`: grader.http_caps) as
    every other request is, and written byte for byte as httpx writes them. Each answer must
    arrive whole within the request timeout of the moment the last bytes went out; it is capped
    like every other, and decoded by the plugin within the cap if it is compressed.
    """

    def __init__(
        self, client: httpx.Client, connect: Callable[[], socket.socket], timeout: float, traffic=None
    ) -> None:
        self.client = client
        self.connect = connect
        self.timeout = timeout
        self.traffic = traffic  # the grader.http_caps module; None when pytest runs without the grader

    def __call__(
        self, requests: list[httpx.Request], *, first: httpx.Request
    ) -> tuple[httpx.Response | Exception, list[httpx.Response | Exception]]:
        """The answer to `first`, and one to each request in order: a response, or what went wrong instead."""
        for request in requests:
            for hook in self.client.event_hooks["request"]:
                hook(request)  # the suite's deadline
            if self.traffic is not None:
                self.traffic.dress(request)  # as grader.http_caps dresses every request its transport sends
            else:
                request.headers["Accept-Encoding"] = "identity"  # read as sent: nothing to decode with
        wires = [_wire(request) for request in requests]
        answers: list[httpx.Response | Exception | None] = [None] * len(requests)
        held: dict[int, socket.socket] = {}
        try:
            for index, wire in enumerate(wires):
                try:
                    held[index] = self.connect()
                    held[index].sendall(wire[:-1])
                except OSError as exc:
                    answers[index] = exc
            try:
                first_answer = self.client.send(first)
            except httpx.HTTPError as exc:
                # No answer (the app is gone, or the suite is out of time): the held requests stay unsent.
                return exc, [exc if answer is None else answer for answer in answers]
            releases = [(held[index], wires[index][-1:]) for index in held if answers[index] is None]
            for sock, last in releases:
                try:  # noqa: SIM105 (cheaper than contextlib.suppress in this tight loop)
                    sock.send(last)
                except OSError:
                    pass  # reading the answer then says what went wrong
            deadline = time.monotonic() + self.timeout
            for index, sock in held.items():
                if answers[index] is None:
                    answers[index] = _read_answer(sock, requests[index], deadline=deadline, traffic=self.traffic)
        finally:
            for sock in held.values():
                sock.close()
        return first_answer, answers


def _wire(request: httpx.Request) -> bytes:
    """The request as httpx writes it on an HTTP/1.1 connection."""
    head = b"%s %s HTTP/1.1\r\n" % (request.method.encode(), request.url.raw_path)
    head += b"".join(b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw)
    return head + b"\r\n" + request.read()


class _Answer(io.RawIOBase):
    """What the app sends on a connection, as a file; reading stops at the deadline and past the cap."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer did not arrive whole in time")
        self.sock.settimeout(left)
        size = self.sock.recv_into(buffer)
        self.received += size
        if self.received > MAX_ANSWER_BYTES:
            raise OSError(f"the answer exceeded {MAX_ANSWER_BYTES} bytes")
        return size


class _Connection:
    """What http.client.HTTPResponse asks of a socket: a file to read the answer from."""

    def __init__(self, answer: _Answer) -> None:
        self.answer = answer

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self.answer)


def _read_answer(
    sock: socket.socket, request: httpx.Request, *, deadline: float, traffic=None
) -> httpx.Response | Exception:
    answer = http.client.HTTPResponse(_Connection(_Answer(sock, deadline)), method=request.method)
    try:
        answer.begin()
        body = answer.read()
        encoding = answer.getheader("Content-Encoding")
        if encoding and traffic is not None:
            body = traffic.decoded(body, encoding, request=request, limit=MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException, httpx.HTTPError) as exc:
        return exc
    skipped = {"content-encoding", "content-length"} if encoding else set()
    headers = [(name, value) for name, value in answer.getheaders() if name.lower() not in skipped]
    return httpx.Response(answer.status, headers=headers, content=body, request=request)
