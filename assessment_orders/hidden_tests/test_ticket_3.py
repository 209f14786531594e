"""Ticket #3: a retried order is placed twice (Idempotency-Key ignored).

The same key with the same order answers with the order already placed and takes no more
stock; the same key with another order is refused with 422 and changes nothing; two real orders
with the same contents but their own keys (or none) are two orders.
"""

import pytest
from conftest import describe, new_token

pytestmark = pytest.mark.ticket(3)


def test_a_retry_with_the_same_key_is_the_same_order(shop, rng):
    products = [shop.new_product(stock=20) for _ in range(rng.randint(1, 3))]
    customer = shop.new_customer()
    lines = [(p, rng.randint(1, 3)) for p in products]
    key = new_token(rng)

    first = shop.order(customer, lines, key)
    assert first.status_code == 201, describe(first)
    for _ in range(rng.randint(1, 3)):
        retry = shop.order(customer, lines, key)
        assert retry.status_code in (200, 201), describe(retry)
        assert retry.json() == first.json()

    assert [order["id"] for order in shop.orders_of(customer)] == [first.json()["id"]]
    assert [shop.stock(p) for p, _ in lines] == [20 - q for _, q in lines]

    # The same contents under a key of their own: another real order, not a retry.
    again = shop.order(customer, lines, new_token(rng))
    assert again.status_code == 201, describe(again)
    assert again.json()["id"] != first.json()["id"]
    assert [shop.stock(p) for p, _ in lines] == [20 - 2 * q for _, q in lines]


def test_the_same_key_with_another_order_is_refused(shop, rng):
    product, other = shop.new_product(stock=20), shop.new_product(stock=20)
    customer = shop.new_customer()
    key = new_token(rng)
    placed = shop.order(customer, [(product, 2)], key)
    assert placed.status_code == 201, describe(placed)

    for lines in ([(product, 3)], [(other, 2)], [(product, 2), (other, 1)]):
        refused = shop.order(customer, lines, key)
        assert refused.status_code == 422, describe(refused)

    assert [order["id"] for order in shop.orders_of(customer)] == [placed.json()["id"]]
    assert (shop.stock(product), shop.stock(other)) == (18, 20)


@pytest.mark.guard
def test_two_real_orders_with_the_same_contents_are_two_orders(shop, rng):
    product = shop.new_product(stock=20)
    customer = shop.new_customer()
    quantity = rng.randint(1, 3)

    answers = [shop.order(customer, [(product, quantity)], key) for key in (new_token(rng), new_token(rng), None)]

    assert [answer.status_code for answer in answers] == [201, 201, 201], [describe(a) for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 3
    assert shop.stock(product) == 20 - 3 * quantity


@pytest.mark.guard
def test_an_order_without_a_key_is_placed(shop):
    product = shop.new_product(stock=5)
    order = shop.must_order(shop.new_customer(), [(product, 2)])
    assert order["total_cents"] == 2 * product["price_cents"]
    assert shop.stock(product) == 3
