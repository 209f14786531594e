"""Fixtures of this package's hidden tests: the app's API as the tests use it.

The app keeps its database (a fresh PostgreSQL per run) for the whole suite, so every test creates
the tools it needs and only looks at those. Names and numbers come from the run's seed (rng).
"""

import random
import string

import httpx
import pytest

TOOLS = ("Drill", "Ladder", "Sander", "Jigsaw", "Pressure washer", "Tile cutter", "Lawn mower", "Wheelbarrow")
MEMBERS = ("Ada", "Alan", "Bea", "Carl", "Dana", "Emil", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kemal")


def describe(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url.path} answered {response.status_code}: {response.text[:300]}"
    )


class Library:
    def __init__(self, http: httpx.Client, rng: random.Random) -> None:
        self.http = http
        self.rng = rng

    def member(self) -> str:
        return f"{self.rng.choice(MEMBERS)} {''.join(self.rng.choices(string.ascii_lowercase, k=8))}"

    def new_tool(self, units: int) -> dict:
        name = f"{self.rng.choice(TOOLS)} {''.join(self.rng.choices(string.digits, k=6))}"
        response = self.http.post("/tools", json={"name": name, "units": units})
        assert response.status_code == 201, f"setup: could not add a tool; {describe(response)}"
        return response.json()

    def tool(self, tool: dict) -> dict:
        response = self.http.get(f"/tools/{tool['id']}")
        assert response.status_code == 200, describe(response)
        return response.json()

    def borrow(self, tool: dict) -> httpx.Response:
        return self.http.post("/loans", json={"tool_id": tool["id"], "member": self.member()})

    def must_borrow(self, tool: dict) -> dict:
        response = self.borrow(tool)
        assert response.status_code == 201, f"setup: could not borrow a unit; {describe(response)}"
        return response.json()

    def give_back(self, loan: dict) -> httpx.Response:
        return self.http.post(f"/loans/{loan['id']}/return")


@pytest.fixture
def library(client, rng) -> Library:
    return Library(client, rng)
