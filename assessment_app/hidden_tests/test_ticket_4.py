"""Ticket #4: editing one field of a book resets others.

PATCH changes exactly the fields sent, whichever they are, and nothing else;
an empty PATCH changes nothing. Checked on the response and on a fresh read.
"""

import pytest

pytestmark = pytest.mark.ticket(4)

FIELDS = ("title", "author", "isbn", "published_year", "description", "copies_total")

CHANGES = {
    "title": lambda unique: {"title": f"{unique} revised"},
    "copies": lambda unique: {"copies_total": 7},
    "description": lambda unique: {"description": "Paperback reprint."},
    "year": lambda unique: {"published_year": 2004},
    "isbn": lambda unique: {"isbn": f"978{int(unique, 16) % 10**10:010d}"},
    "author-and-year": lambda unique: {"author": "Someone Else", "published_year": 1987},
    "nothing": lambda unique: {},
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_patch_changes_only_the_fields_sent(client, library, unique, case):
    book = library.new_book(title=f"{unique} first", copies_total=4, description="Signed by the author.")
    changes = CHANGES[case](unique)
    expected = {name: changes.get(name, book[name]) for name in FIELDS}

    response = client.patch(f"/books/{book['id']}", json=changes)

    assert response.status_code == 200, response.text
    for where, body in (("in the answer", response.json()), ("on a fresh read", library.get_book(book["id"]))):
        wrong = {
            name: {"expected": expected[name], "got": body.get(name)}
            for name in FIELDS
            if body.get(name) != expected[name]
        }
        assert not wrong, f"after PATCH {changes}, {where}: {wrong}"
