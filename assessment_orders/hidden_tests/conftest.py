"""Fixtures of the shop package's hidden tests.

These tests never import the candidate's code: the app runs on its own (in the sandbox) and the
tests talk to it over HTTP. The grader's plugin (grader.plugin) gives them the app's `client`,
`connect`, the run's `seed` and each test's `rng`, `app_cpu` (the app's CPU seconds, measured by
the grader) and `at_once` (requests that reach the app at the same moment). This file holds only
what is this package's own: the `shop` helper.

The app keeps its database for the whole run, other tests write to it too, and the suite runs
twice on the same app: every test creates the products and customers it needs, with names, SKUs
and emails drawn from `rng` that no other test uses, and only ever looks at those. Now and then an
unrelated product or customer is created first, so ids say nothing.
"""

import random
import string

import httpx
import pytest

FIRST_NAMES = ("Ada", "Alan", "Ana", "Bea", "Carl", "Dana", "Emil", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kemal")
LAST_NAMES = ("Abbott", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jansen")
DOMAINS = ("example.org", "example.com", "example.net", "mail.example", "post.example")
GOODS = ("mug", "teapot", "notebook", "lamp", "scarf", "candle", "kettle", "poster", "blanket", "vase", "apron")


def new_token(rng: random.Random) -> str:
    """Letters and digits, 8 to 12 of them: enough that no two tests of a run share one."""
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(8, 12)))


def describe(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url.path} answered {response.status_code}: {response.text[:300]}"
    )


class Shop:
    """The app's API as the tests use it. Setup steps fail the test with a clear message."""

    def __init__(self, http: httpx.Client, rng: random.Random) -> None:
        self.http = http
        self.rng = rng

    def product_payload(self, tag: str = "", **fields) -> dict:
        token = new_token(self.rng)
        payload = {
            "sku": f"{token.upper()}-{self.rng.randrange(100, 1000)}",
            "name": f"{self.rng.choice(GOODS).title()} {tag or token}",
            "description": self.rng.choice(("Hand made.", "Organic cotton.", "Stoneware.", "")),
            "price_cents": self.rng.randint(150, 9000),
            "stock": self.rng.randint(5, 40),
        }
        payload.update(fields)
        return payload

    def customer_payload(self) -> dict:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{new_token(self.rng)}@{self.rng.choice(DOMAINS)}"
        return {"name": f"{first} {last}", "email": email}

    def unrelated_records(self, chance: float = 0.25) -> None:
        """With the given chance, create a product or a customer that no test looks at again."""
        if self.rng.random() < chance:
            if self.rng.random() < 0.5:
                self._create("/products", self.product_payload(), "product")
            else:
                self._create("/customers", self.customer_payload(), "customer")

    def _create(self, path: str, payload: dict, what: str) -> dict:
        response = self.http.post(path, json=payload)
        assert response.status_code == 201, f"setup: could not create a {what}; {describe(response)}"
        return response.json()

    def new_product(self, tag: str = "", **fields) -> dict:
        self.unrelated_records()
        return self._create("/products", self.product_payload(tag, **fields), "product")

    def new_customer(self) -> dict:
        self.unrelated_records()
        return self._create("/customers", self.customer_payload(), "customer")

    def order(self, customer: dict, lines: list[tuple[dict, int]], key: str | None = None) -> httpx.Response:
        body = {"customer_id": customer["id"], "lines": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
        return self.http.post("/orders", json=body, headers={"Idempotency-Key": key} if key else {})

    def must_order(self, customer: dict, lines: list[tuple[dict, int]]) -> dict:
        response = self.order(customer, lines)
        assert response.status_code == 201, f"setup: could not place an order; {describe(response)}"
        return response.json()

    def orders_of(self, customer: dict) -> list[dict]:
        response = self.http.get("/orders", params={"customer_id": customer["id"], "limit": 100})
        assert response.status_code == 200, describe(response)
        return response.json()

    def stock(self, product: dict) -> int:
        """The product's stock as the catalogue listing reads it from the database (it caches nothing)."""
        response = self.http.get("/products", params={"q": product["sku"], "limit": 100})
        assert response.status_code == 200, describe(response)
        [found] = [each for each in response.json() if each["id"] == product["id"]]
        return found["stock"]


@pytest.fixture
def shop(client, rng) -> Shop:
    return Shop(client, rng)
