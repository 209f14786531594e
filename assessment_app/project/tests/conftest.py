"""Test setup: the app runs against a throwaway SQLite database.

Every test creates the records it needs, with names and ISBNs no other test
uses, so tests don't depend on each other or on the order they run in.
"""

import itertools
import os
import shutil
import tempfile
import uuid

import pytest

# Must be set before the app is imported: the engine is created at import time.
_db_dir = tempfile.mkdtemp(prefix="library-tests-")
os.environ["DATABASE_URL"] = f"sqlite:///{_db_dir}/test.db"

from fastapi.testclient import TestClient  # noqa: E402

from app.main import app  # noqa: E402

_isbns = itertools.count(9780000000001)


@pytest.fixture(scope="session")
def client():
    # raise_server_exceptions=False: a crash shows up as the 500 a real client would get.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    shutil.rmtree(_db_dir, ignore_errors=True)


@pytest.fixture
def unique():
    """A short random string, to keep each test's data apart from the others'."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def make_book(client, unique):
    def make_book(**fields):
        payload = {
            "title": f"Book {unique}",
            "author": "Test Author",
            "isbn": str(next(_isbns)),
            "copies_total": 1,
        }
        payload.update(fields)
        response = client.post("/books", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    return make_book


@pytest.fixture
def make_member(client):
    def make_member(name="Test Member"):
        email = f"{uuid.uuid4().hex[:12]}@example.org"
        response = client.post("/members", json={"name": name, "email": email})
        assert response.status_code == 201, response.text
        member = response.json()
        member["headers"] = {"Authorization": f"Bearer {member['api_key']}"}
        return member

    return make_member
