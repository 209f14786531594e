"""Ticket #5: impossible books get into the catalogue.

A blank title or author (empty or only whitespace) and a negative number of
copies are refused with 422, on create and on update, and nothing is saved;
zero copies stays allowed.
"""

import pytest

pytestmark = pytest.mark.ticket(5)

INVALID = [
    pytest.param("copies_total", -1, id="copies-minus-1"),
    pytest.param("copies_total", -40, id="copies-minus-40"),
    pytest.param("title", "", id="empty-title"),
    pytest.param("title", "   ", id="spaces-title"),
    pytest.param("author", "", id="empty-author"),
    pytest.param("author", " \t ", id="whitespace-author"),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_create_refuses(client, library, name, value):
    payload = library.book_payload(**{name: value})

    response = client.post("/books", json=payload)

    assert response.status_code == 422, f"{response.status_code}: {response.text[:200]}"
    # Nothing was saved: the ISBN is still free.
    retry = client.post("/books", json={**payload, name: library.book_payload()[name]})
    assert retry.status_code == 201, retry.text


def test_zero_copies_is_fine_but_negative_is_not(client, library):
    assert client.post("/books", json=library.book_payload(copies_total=-1)).status_code == 422
    response = client.post("/books", json=library.book_payload(copies_total=0))
    assert response.status_code == 201, response.text
    assert response.json()["copies_total"] == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("copies_total", -1, id="copies-minus-1"),
        pytest.param("title", "", id="empty-title"),
        pytest.param("title", "  ", id="spaces-title"),
        pytest.param("author", "\t", id="tab-author"),
    ],
)
def test_update_refuses(client, library, name, value):
    book = library.new_book(copies_total=3)

    response = client.patch(f"/books/{book['id']}", json={name: value})

    assert response.status_code == 422, f"{response.status_code}: {response.text[:200]}"
    assert library.get_book(book["id"])[name] == book[name]
