"""Fixtures for the hidden grading tests.

These tests never import the candidate's code. The candidate's app runs on its
own (in the sandbox) and the tests talk to it over HTTP, through a unix socket
(--app-socket / GRADER_APP_SOCKET) or, when authoring, a URL (--app-url /
GRADER_APP_URL).

The app keeps its database for the whole run and other tests write to it too,
so every test creates the records it needs, with names, emails and ISBNs that
no other test uses, and only ever looks at those.
"""

import os
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest


def pytest_addoption(parser):
    group = parser.getgroup("grader", "hidden grading tests")
    group.addoption("--app-socket", default=os.environ.get("GRADER_APP_SOCKET"), help="unix socket the app serves")
    group.addoption("--app-url", default=os.environ.get("GRADER_APP_URL"), help="base URL the app serves (authoring)")
    group.addoption(
        "--request-timeout",
        type=float,
        default=float(os.environ.get("GRADER_REQUEST_TIMEOUT", "5")),
        help="seconds to wait for each response",
    )
    group.addoption(
        "--suite-deadline",
        type=float,
        default=float(os.environ.get("GRADER_SUITE_DEADLINE", "0")) or None,
        help="seconds after which every further request fails at once, so a slow app can't stall the run",
    )


def pytest_configure(config):
    config.stash[_started] = time.monotonic()
    if not (config.getoption("app_socket") or config.getoption("app_url") or config.getoption("collectonly")):
        raise pytest.UsageError("give the app's unix socket (--app-socket or GRADER_APP_SOCKET) or URL (--app-url)")


def pytest_collection_modifyitems(config, items):
    # The grader reads the ticket of each test from the JUnit report.
    for item in items:
        marker = item.get_closest_marker("ticket")
        if marker is not None:
            item.user_properties.append(("ticket", marker.args[0]))


_started = pytest.StashKey[float]()


class OutOfTime(Exception):
    """The hidden suite used up its time: the app answered too slowly."""


@pytest.fixture(scope="session")
def client(pytestconfig):
    socket = pytestconfig.getoption("app_socket")
    url = pytestconfig.getoption("app_url")
    timeout = pytestconfig.getoption("request_timeout")
    budget = pytestconfig.getoption("suite_deadline")
    deadline = pytestconfig.stash[_started] + budget if budget else None

    def check_deadline(request):
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime(f"not sent: the hidden tests ran out of time ({budget:.0f} s); the app answered too slowly")

    # A new connection for every request: uvicorn closes a connection after a request whose
    # handler raised (once the 500 is sent), and reusing it would race with that close and
    # could fail the next, unrelated test.
    transport = httpx.HTTPTransport(uds=socket or None, limits=httpx.Limits(max_keepalive_connections=0))
    base_url = "http://candidate-app" if socket else url
    with httpx.Client(
        transport=transport,
        base_url=base_url,
        timeout=timeout,
        # Proxy variables must not reroute requests away from the socket.
        trust_env=False,
        event_hooks={"request": [check_deadline]},
    ) as http:
        yield http


def new_token() -> str:
    return uuid.uuid4().hex[:12]


def new_isbn() -> str:
    return f"979{uuid.uuid4().int % 10**10:010d}"


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
    """The app's API as the tests use it. Setup steps fail the test with a clear message."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def book_payload(self, **fields) -> dict:
        payload = {
            "title": f"Book {new_token()}",
            "author": "Grader Author",
            "isbn": new_isbn(),
            "published_year": 1999,
            "description": "Hardcover, first edition.",
            "copies_total": 1,
        }
        payload.update(fields)
        return payload

    def new_book(self, **fields) -> dict:
        response = self.http.post("/books", json=self.book_payload(**fields))
        assert response.status_code == 201, f"setup: could not create a book; {describe(response)}"
        return response.json()

    def get_book(self, book_id: int) -> dict:
        response = self.http.get(f"/books/{book_id}")
        assert response.status_code == 200, describe(response)
        return response.json()

    def new_member(self) -> Member:
        token = new_token()
        response = self.http.post("/members", json={"name": f"Member {token}", "email": f"{token}@grader.example"})
        assert response.status_code == 201, f"setup: could not create a member; {describe(response)}"
        body = response.json()
        return Member(id=body["id"], api_key=body["api_key"], headers={"Authorization": f"Bearer {body['api_key']}"})

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
def library(client) -> Library:
    return Library(client)


@pytest.fixture
def unique() -> str:
    """A token that no other test uses, for names that searches can single out."""
    return new_token()
