def test_create_and_read_a_product(client, make_product):
    product = make_product(name="Green teapot", price_cents=3400, stock=4)

    assert client.get(f"/products/{product['id']}").json() == product
    assert client.get(f"/products/by-sku/{product['sku']}").json() == product


def test_a_duplicate_sku_is_refused(client, make_product):
    product = make_product()

    response = client.post("/products", json={"sku": product["sku"], "name": "Other", "price_cents": 100})

    assert response.status_code == 409


def test_search_by_name(client, make_product):
    product = make_product(name="Striped apron zq81")

    response = client.get("/products", params={"q": "zq81"})

    assert [each["id"] for each in response.json()] == [product["id"]]


def test_a_new_price_shows_on_the_product_page(client, make_product):
    product = make_product(price_cents=1250)
    client.get(f"/products/{product['id']}")

    client.patch(f"/products/{product['id']}", json={"price_cents": 990})

    assert client.get(f"/products/{product['id']}").json()["price_cents"] == 990
