"""Ticket #5: impossible books get into the catalogue.

A blank title or author (empty or only whitespace) and a negative number of
copies are refused with 422, on create and on update, and nothing is saved;
zero copies stays allowed.
"""

import pytest

pytestmark = pytest.mark.ticket(5)


def blank(rng) -> str:
    """Whitespace only, one to four characters of it."""
    return "".join(rng.choices(" \t", k=rng.randint(1, 4)))


# Each case's invalid value, drawn from the test's generator.
INVALID = [
    pytest.param("copies_total", lambda rng: -1, id="copies-minus-1"),
    pytest.param("copies_total", lambda rng: -rng.randint(2, 500), id="copies-negative"),
    pytest.param("title", lambda rng: "", id="empty-title"),
    pytest.param("title", blank, id="spaces-title"),
    pytest.param("author", lambda rng: "", id="empty-author"),
    pytest.param("author", blank, id="whitespace-author"),
]


@pytest.mark.parametrize(("name", "invalid"), INVALID)
def test_create_refuses(client, library, rng, name, invalid):
    payload = library.book_payload(**{name: invalid(rng)})

    response = client.post("/books", json=payload)

    assert response.status_code == 422, f"{response.status_code}: {response.text[:200]}"
    # Nothing was saved: the ISBN is still free.
    retry = client.post("/books", json={**payload, name: library.book_payload()[name]})
    assert retry.status_code == 201, retry.text


def test_zero_copies_is_fine_but_negative_is_not(client, library, rng):
    assert client.post("/books", json=library.book_payload(copies_total=-rng.randint(1, 9))).status_code == 422
    response = client.post("/books", json=library.book_payload(copies_total=0))
    assert response.status_code == 201, response.text
    assert response.json()["copies_total"] == 0


@pytest.mark.parametrize(
    ("name", "invalid"),
    [
        pytest.param("copies_total", lambda rng: -rng.randint(1, 50), id="copies-negative"),
        pytest.param("title", lambda rng: "", id="empty-title"),
        pytest.param("title", blank, id="spaces-title"),
        pytest.param("author", blank, id="whitespace-author"),
    ],
)
def test_update_refuses(client, library, rng, name, invalid):
    book = library.new_book(copies_total=rng.randint(1, 5))

    response = client.patch(f"/books/{book['id']}", json={name: invalid(rng)})

    assert response.status_code == 422, f"{response.status_code}: {response.text[:200]}"
    assert library.get_book(book["id"])[name] == book[name]
