"""Test setup: the app and these tests use the PostgreSQL of DATABASE_URL (README: compose.yaml).

Every test creates the tools it needs, with names no other test uses, so tests don't depend on each
other, on the order they run in, or on what earlier runs left in the database.
"""

import uuid

import pytest
from fastapi.testclient import TestClient

from app.main import app


@pytest.fixture(scope="session")
def client():
    # raise_server_exceptions=False: a crash shows up as the 500 a real client would get.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_tool(client):
    def make_tool(units=1):
        response = client.post("/tools", json={"name": f"Drill {uuid.uuid4().hex[:8]}", "units": units})
        assert response.status_code == 201, response.text
        return response.json()

    return make_tool
