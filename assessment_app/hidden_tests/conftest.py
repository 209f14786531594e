"""Fixtures of the built-in package's hidden tests.

These tests never import the candidate's code. The candidate's app runs on its own (in the
sandbox) and the tests talk to it over HTTP. What the grader gives every package comes from its
plugin, grader.plugin, loaded with the tests: the app's address and an httpx `client` on it (a
new connection per request, the request timeout, the suite's deadline), `connect` for a raw
connection, the run's seed and each test's own generator `rng`, the order the seed shuffles the
tests into, and the reporting of each test's `ticket` marker. This file holds only what is this
package's own.

The app keeps its database for the whole run and other tests write to it too, so every test
creates the records it needs, with names, emails and ISBNs that no other test uses, and only ever
looks at those. Every name, token, ISBN and number is drawn from `rng`, as are the order records
are created in and the unrelated records created between them, so an id says nothing about who
or what it belongs to. The same seed against a fresh app sends the same requests. The grader's
http_caps plugin dresses each request as a real client's (a browser, curl, Go, Java, requests,
httpx...: their User-Agent, Accept, Accept-Encoding, Accept-Language, Connection, header order
and case), drawn from the same seed and the test's id, and decodes compressed answers within its
caps: no header gives the grader away.

Requests that must be served at the same time (the `at_once` fixture, `AtOnce`) are built by the
same httpx client and written to connections of their own byte for byte as it would write them,
each held back by its last byte until all of them are with the app; then the last bytes go out
together. How loaded the machine is no longer decides whether the app gets them one after the other.
"""

import http.client
import io
import os
import random
import socket
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

# The most the tests read of one answer: the cap the grader's http_caps plugin puts on every answer read through httpx.
MAX_ANSWER_BYTES = int(os.environ.get("GRADER_MAX_RESPONSE_BYTES") or 10 * 1024 * 1024)

FIRST_NAMES = ("Ada", "Alan", "Ana", "Bea", "Carl", "Dana", "Emil", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kemal")
LAST_NAMES = ("Abbott", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jansen")
DOMAINS = ("example.org", "example.com", "example.net", "mail.example", "post.example")
WORDS = ("river", "glass", "winter", "garden", "harbour", "lantern", "orchard", "silver", "atlas", "meadow", "ember")
DESCRIPTIONS = ("Hardcover, first edition.", "Paperback.", "Signed copy.", "Large print.", "Illustrated.", "")


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


@pytest.fixture(scope="session")
def at_once(client, connect, grader, pytestconfig) -> AtOnce:
    # The grader's plugin, loaded by name (-p grader.http_caps): the tests import nothing of the grader.
    traffic = pytestconfig.pluginmanager.get_plugin("grader.http_caps")
    return AtOnce(client, connect, grader.request_timeout, traffic)


def new_token(rng: random.Random) -> str:
    """Letters and digits, 8 to 12 of them: enough that no two tests of a run share one."""
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(8, 12)))


def new_isbn(rng: random.Random) -> str:
    return f"{rng.choice(('978', '979'))}{rng.randrange(10**10):010d}"


def describe(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url.path} answered {response.status_code}: {response.text[:300]}"
    )


@dataclass
class Member:
    id: int
    api_key: str
    headers: dict[str, str] = field(repr=False)


class Library:
    """The app's API as the tests use it. Setup steps fail the test with a clear message.

    Before some of the records a test asks for, an unrelated one is created (a book or a
    member, as the generator decides), so ids don't follow from the order of the test's steps.
    """

    def __init__(self, http: httpx.Client, rng: random.Random) -> None:
        self.http = http
        self.rng = rng

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def book_payload(self, **fields) -> dict:
        payload = {
            "title": f"{self.rng.choice(WORDS).title()} {new_token(self.rng)}",
            "author": self.person(),
            "isbn": new_isbn(self.rng),
            "published_year": self.rng.randint(1900, 2024),
            "description": self.rng.choice(DESCRIPTIONS),
            "copies_total": 1,
        }
        payload.update(fields)
        return payload

    def unrelated_records(self, chance: float = 0.25) -> None:
        """With the given chance, create a book or a member that no test looks at again."""
        if self.rng.random() < chance:
            if self.rng.random() < 0.5:
                self._create("/books", self.book_payload(copies_total=self.rng.randint(0, 3)), "book")
            else:
                self._create("/members", self.member_payload(), "member")

    def _create(self, path: str, payload: dict, what: str) -> dict:
        response = self.http.post(path, json=payload)
        assert response.status_code == 201, f"setup: could not create a {what}; {describe(response)}"
        return response.json()

    def new_book(self, **fields) -> dict:
        self.unrelated_records()
        return self._create("/books", self.book_payload(**fields), "book")

    def get_book(self, book_id: int) -> dict:
        response = self.http.get(f"/books/{book_id}")
        assert response.status_code == 200, describe(response)
        return response.json()

    def member_payload(self) -> dict:
        name = self.person()
        email = f"{name.split()[0].lower()}.{new_token(self.rng)}@{self.rng.choice(DOMAINS)}"
        return {"name": name, "email": email}

    def new_member(self) -> Member:
        self.unrelated_records()
        body = self._create("/members", self.member_payload(), "member")
        return Member(id=body["id"], api_key=body["api_key"], headers={"Authorization": f"Bearer {body['api_key']}"})

    def two_members(self) -> tuple[Member, Member]:
        """Two members, created in an order the generator picks with at least one unrelated member between.

        Their ids are never next to each other, and either may be the older.
        """
        first = self.new_member()
        for _ in range(self.rng.randint(1, 2)):
            self._create("/members", self.member_payload(), "member")
        second = self.new_member()
        return (first, second) if self.rng.random() < 0.5 else (second, first)

    def borrow(self, member: Member, book_id: int) -> httpx.Response:
        return self.http.post("/loans", json={"book_id": book_id}, headers=member.headers)

    def must_borrow(self, member: Member, book_id: int) -> dict:
        response = self.borrow(member, book_id)
        assert response.status_code == 201, f"setup: could not borrow a book; {describe(response)}"
        return response.json()

    def loans_of(self, member: Member) -> list[dict]:
        response = self.http.get("/loans", headers=member.headers)
        assert response.status_code == 200, describe(response)
        return response.json()


@pytest.fixture
def library(client, rng) -> Library:
    return Library(client, rng)


@pytest.fixture
def unique(rng) -> str:
    """A token that no other test uses, for names that searches can single out."""
    return new_token(rng)
