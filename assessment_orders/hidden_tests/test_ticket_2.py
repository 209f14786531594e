"""Ticket #2: product pages show old prices and stock (an in-process cache never invalidated).

After a change through PATCH, and after an order takes stock, a product reads as it now is, by
its id (the product page) and by its SKU (the warehouse's scanners): each read first, so a cache
holds the old answer when the change comes.
"""

import pytest
from conftest import describe

pytestmark = pytest.mark.ticket(2)


def read(client, product: dict) -> tuple[dict, dict]:
    """The product by id and by SKU; the SKU is read first, so a fresh read by id cannot refresh it."""
    by_sku = client.get(f"/products/by-sku/{product['sku']}")
    by_id = client.get(f"/products/{product['id']}")
    assert by_id.status_code == 200, describe(by_id)
    assert by_sku.status_code == 200, describe(by_sku)
    return by_id.json(), by_sku.json()


@pytest.mark.parametrize("way", ["by id first", "by sku first"])
def test_a_changed_price_and_stock_show_at_once(client, shop, rng, way):
    product = shop.new_product()
    reads = read(client, product) if way == "by id first" else read(client, product)[::-1]
    assert all(each["price_cents"] == product["price_cents"] for each in reads)

    changes = {
        "price_cents": product["price_cents"] + rng.randint(1, 500),
        "stock": product["stock"] + rng.randint(1, 9),
    }
    response = client.patch(f"/products/{product['id']}", json=changes)
    assert response.status_code == 200, describe(response)

    for where, current in zip(("by sku", "by id"), read(client, product)[::-1], strict=True):
        assert (current["price_cents"], current["stock"]) == (changes["price_cents"], changes["stock"]), where


def test_stock_taken_by_an_order_shows_at_once(client, shop, rng):
    product = shop.new_product(stock=rng.randint(5, 20))
    read(client, product)
    quantity = rng.randint(1, 4)

    shop.must_order(shop.new_customer(), [(product, quantity)])

    for where, current in zip(("by sku", "by id"), read(client, product)[::-1], strict=True):
        assert current["stock"] == product["stock"] - quantity, where


@pytest.mark.guard
def test_a_product_that_does_not_exist_is_not_found(client, shop):
    product = shop.new_product()
    assert client.get(f"/products/{product['id'] + 10**9}").status_code == 404
    assert client.get(f"/products/by-sku/{product['sku']}-X").status_code == 404
