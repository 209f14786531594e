"""Ticket #4: two customers both bought the last unit (check-then-write race on stock).

Bursts of orders for the same product reach the app at the same moment (the grader's at_once:
held back by their last byte, then let go together), however busy the machine: no more units are
sold than were in stock, every other order is refused with 409, and the stock ends at zero. The
shipped app writes the stock only after the payment's authorization (a wait, not CPU work), so
every burst races as shipped, on a quiet host or a busy one.
"""

import pytest
from conftest import describe

pytestmark = pytest.mark.ticket(4)

BURSTS, BUYERS = 8, 6


@pytest.mark.concurrency
@pytest.mark.runs_last
def test_orders_at_the_same_moment_never_sell_more_than_the_stock(client, shop, at_once, rng):
    customers = [shop.new_customer() for _ in range(BUYERS)]
    wrong = []
    for _ in range(BURSTS):
        stock = rng.randint(1, 2)
        product = shop.new_product(stock=stock)
        requests = [
            client.build_request(
                "POST",
                "/orders",
                json={"customer_id": c["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
            )
            for c in rng.sample(customers, BUYERS)
        ]
        _first, answers = at_once(requests, first=client.build_request("GET", f"/customers/{customers[0]['id']}"))
        statuses = sorted(a.status_code if not isinstance(a, Exception) else type(a).__name__ for a in answers)
        left = shop.stock(product)
        if statuses != sorted([201] * stock + [409] * (BUYERS - stock)) or left != 0:
            example = next((describe(a) for a in answers if not isinstance(a, Exception) and a.status_code == 201), "")
            wrong.append(f"{stock} in stock: answers {statuses}, {left} left; {example}")

    assert not wrong, f"{len(wrong)} of {BURSTS} bursts sold wrong, for example: {wrong[0]}"


@pytest.mark.guard
def test_an_order_for_more_than_the_stock_is_refused(shop):
    product = shop.new_product(stock=2)
    refused = shop.order(shop.new_customer(), [(product, 3)])
    assert refused.status_code == 409, describe(refused)
    assert shop.stock(product) == 2
