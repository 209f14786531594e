"""Ticket #1: the order history gets slow (one query per order, and one per line).

Judged on the app's CPU, measured by the grader, as a ratio against a baseline measured in the
same test: listing 20 orders of 5 lines each against listing the same 100 products flat, in
alternating rounds judged on the median round. Measured with four busy loops on two cores (the
median round of each run): with the lines and their products loaded in a few queries, the orders
cost 1.7 to 1.9 times the flat listing; with the lines loaded together but each line's product on
its own, 4.8 to 5.6 times; with a query per order and per line, 5.8 to 7.1. Every figure grows
linearly with the orders, so the ratio does not depend on their number. The bound, 3, sits
between the fix and the nearest wrong fix with a margin of about 1.6 times on each side. A busy
host makes both listings wait, not spend more CPU, so the ratio holds.

A listing served from a cache is cheap too: after the measurement a new order must show at once.
"""

import pytest
from conftest import new_token

pytestmark = pytest.mark.ticket(1)

ORDERS, LINES = 20, 5
# Rounds of LISTINGS order listings then LISTINGS flat ones; the verdict is the median round's ratio, so a
# moment when the host slowed one block down (a neighbour's burst, a cache flushed) does not decide it.
ROUNDS, LISTINGS = 9, 3
BOUND = 3.0


def test_listing_orders_costs_little_more_than_a_flat_listing(client, shop, app_cpu, rng):
    tag = new_token(rng)
    products = [shop.new_product(tag, stock=50) for _ in range(ORDERS * LINES)]
    rng.shuffle(products)
    customer = shop.new_customer()
    for number in range(ORDERS):
        shop.must_order(customer, [(p, rng.randint(1, 3)) for p in products[number * LINES : (number + 1) * LINES]])

    def list_orders() -> list[dict]:
        response = client.get("/orders", params={"customer_id": customer["id"], "limit": 100})
        assert response.status_code == 200, response.text
        return response.json()

    def list_products() -> list[dict]:
        response = client.get("/products", params={"q": tag, "limit": 100})
        assert response.status_code == 200, response.text
        return response.json()

    # A few of each before measuring, so no figure holds a first request's one-off work.
    for _ in range(3):
        assert len(list_orders()) == ORDERS
        assert len(list_products()) == ORDERS * LINES
    rounds = []
    for _ in range(ROUNDS):
        with app_cpu() as orders_cpu:
            for _ in range(LISTINGS):
                list_orders()
        with app_cpu() as flat_cpu:
            for _ in range(LISTINGS):
                list_products()
        rounds.append((orders_cpu.seconds / max(flat_cpu.seconds, 1e-3), orders_cpu.seconds, flat_cpu.seconds))
    ratio, orders_seconds, flat_seconds = sorted(rounds)[ROUNDS // 2]
    assert ratio < BOUND, (
        f"{LISTINGS} listings of {ORDERS} orders of {LINES} lines used {orders_seconds:.3f} CPU s of the app, "
        f"{ratio:.1f} times the {flat_seconds:.3f} s of {LISTINGS} flat listings of the same "
        f"{ORDERS * LINES} products (the median of {ROUNDS} rounds; at most {BOUND:g} times); "
        f"all ratios: {', '.join(f'{each[0]:.1f}' for each in sorted(rounds))}"
    )

    latest = shop.must_order(customer, [(products[0], 1)])
    assert [order["id"] for order in list_orders()][:1] == [latest["id"]], "a new order is missing from the listing"


@pytest.mark.guard
def test_the_listing_shows_each_order_with_its_customer_and_lines(shop, rng):
    products = [shop.new_product(stock=50) for _ in range(3)]
    customer = shop.new_customer()
    placed = [shop.must_order(customer, [(p, rng.randint(1, 4)) for p in rng.sample(products, 2)]) for _ in range(2)]

    listed = shop.orders_of(customer)

    assert [order["id"] for order in listed] == [order["id"] for order in reversed(placed)]
    for order, expected in zip(listed, reversed(placed), strict=True):
        assert order["customer"] == {"id": customer["id"], "name": customer["name"], "email": customer["email"]}
        assert order["lines"] == expected["lines"]
        assert order["total_cents"] == sum(line["quantity"] * line["unit_price_cents"] for line in order["lines"])
