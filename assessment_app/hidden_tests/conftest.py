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

Requests that must be served at the same time come from the grader's `at_once` fixture
(grader.at_once): each is held back by its last byte until all of them are with the app, then the
last bytes go out together, so how loaded the machine is no longer decides whether the app gets
them one after the other.
"""

import random
import string
from dataclasses import dataclass, field

import httpx
import pytest

FIRST_NAMES = ("Ada", "Alan", "Ana", "Bea", "Carl", "Dana", "Emil", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kemal")
LAST_NAMES = ("Abbott", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jansen")
DOMAINS = ("example.org", "example.com", "example.net", "mail.example", "post.example")
WORDS = ("river", "glass", "winter", "garden", "harbour", "lantern", "orchard", "silver", "atlas", "meadow", "ember")
DESCRIPTIONS = ("Hardcover, first edition.", "Paperback.", "Signed copy.", "Large print.", "Illustrated.", "")


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
