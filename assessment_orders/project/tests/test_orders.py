import contextlib
import threading

from sqlalchemy import event

from app import crud
from app.core.db import SessionLocal, engine
from app.schemas import OrderCreate


def stock_of(client, product):
    [found] = client.get("/products", params={"q": product["sku"]}).json()
    return found["stock"]


def test_place_an_order(client, make_product, make_customer, place_order):
    mug, teapot = make_product(price_cents=1250, stock=5), make_product(price_cents=3400, stock=2)
    customer = make_customer()

    response = place_order(customer, (mug, 2), (teapot, 1))

    assert response.status_code == 201
    order = response.json()
    assert order["total_cents"] == 2 * 1250 + 3400
    assert order["customer"]["id"] == customer["id"]
    assert (stock_of(client, mug), stock_of(client, teapot)) == (3, 1)


def test_an_order_for_more_than_the_stock_is_refused(client, make_product, make_customer, place_order):
    product = make_product(stock=1)

    response = place_order(make_customer(), (product, 2))

    assert response.status_code == 409
    assert stock_of(client, product) == 1


def test_list_a_customers_orders_newest_first(client, make_product, make_customer, place_order):
    product, customer = make_product(), make_customer()
    first, second = place_order(customer, (product, 1)).json(), place_order(customer, (product, 2)).json()

    response = client.get("/orders", params={"customer_id": customer["id"]})

    assert [order["id"] for order in response.json()] == [second["id"], first["id"]]


def test_listing_orders_takes_a_fixed_number_of_queries(client, make_product, make_customer, place_order):
    customer = make_customer()
    for _ in range(5):
        place_order(customer, (make_product(), 1), (make_product(), 2))
    statements = []

    def count(*args):
        statements.append(args)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/orders", params={"customer_id": customer["id"]})
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(response.json()) == 5
    # The orders, their customer, their lines and the lines' products: not one query per order or line.
    assert len(statements) <= 5


def test_a_retried_order_is_placed_once(client, make_product, make_customer, place_order):
    product, customer = make_product(stock=10), make_customer()

    first = place_order(customer, (product, 3), key="checkout-7f3a")
    retry = place_order(customer, (product, 3), key="checkout-7f3a")

    assert retry.json()["id"] == first.json()["id"]
    assert stock_of(client, product) == 7


def test_two_orders_for_the_last_unit_cannot_both_succeed(monkeypatch, client, make_product, make_customer):
    product = make_product(stock=1)
    both_checked = threading.Barrier(2)
    take_stock = crud.take_stock

    def take_stock_then_wait_for_the_other_order(db, product, quantity):
        # Two requests at the same moment: each has taken its stock before the other one saves its order.
        take_stock(db, product, quantity)
        # The other order may not get this far: it waits for this one's write, or was refused.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=2)

    monkeypatch.setattr(crud, "take_stock", take_stock_then_wait_for_the_other_order)
    outcomes = []

    def buy():
        order = OrderCreate(customer_id=make_customer()["id"], lines=[{"product_id": product["id"], "quantity": 1}])
        with SessionLocal() as db:
            try:
                crud.place_order(db, order)
                outcomes.append("sold")
            except crud.OutOfStock:
                outcomes.append("refused")

    buyers = [threading.Thread(target=buy) for _ in range(2)]
    for buyer in buyers:
        buyer.start()
    for buyer in buyers:
        buyer.join()

    assert sorted(outcomes) == ["refused", "sold"]
    assert stock_of(client, product) == 0
