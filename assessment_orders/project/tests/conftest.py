"""Test setup: the app runs against a throwaway SQLite database.

Every test creates the records it needs, with SKUs and emails no other test uses, so tests don't
depend on each other or on the order they run in.
"""

import os
import shutil
import tempfile
import uuid

import pytest

# Must be set before the app is imported: the engine is created at import time.
_db_dir = tempfile.mkdtemp(prefix="shop-tests-")
os.environ["DATABASE_URL"] = f"sqlite:///{_db_dir}/test.db"

from fastapi.testclient import TestClient  # noqa: E402

from app.main import app  # noqa: E402


@pytest.fixture(scope="session")
def client():
    # raise_server_exceptions=False: a crash shows up as the 500 a real client would get.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    shutil.rmtree(_db_dir, ignore_errors=True)


@pytest.fixture
def make_product(client):
    def make_product(**fields):
        payload = {"sku": f"SKU-{uuid.uuid4().hex[:10].upper()}", "name": "Blue mug", "price_cents": 1250, "stock": 10}
        payload.update(fields)
        response = client.post("/products", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    return make_product


@pytest.fixture
def make_customer(client):
    def make_customer(name="Test Customer"):
        response = client.post("/customers", json={"name": name, "email": f"{uuid.uuid4().hex[:12]}@example.org"})
        assert response.status_code == 201, response.text
        return response.json()

    return make_customer


@pytest.fixture
def place_order(client):
    def place_order(customer, *lines, key=None):
        body = {"customer_id": customer["id"], "lines": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
        return client.post("/orders", json=body, headers={"Idempotency-Key": key} if key else {})

    return place_order
