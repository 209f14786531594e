"""Ticket #4: editing one field of a book resets others.

PATCH changes exactly the fields sent, whichever they are, and nothing else;
an empty PATCH changes nothing. Checked on the response and on a fresh read.
"""

import pytest

pytestmark = pytest.mark.ticket(4)

FIELDS = ("title", "author", "isbn", "published_year", "description", "copies_total")

# Each case's changes, from a fresh payload of the library's generator (other values than the book's).
CHANGES = {
    "title": ("title",),
    "copies": ("copies_total",),
    "description": ("description",),
    "year": ("published_year",),
    "isbn": ("isbn",),
    "author-and-year": ("author", "published_year"),
    "nothing": (),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_patch_changes_only_the_fields_sent(client, library, unique, rng, case):
    book = library.new_book(
        title=f"{unique} first", copies_total=rng.randint(2, 9), description=f"Signed, {library.person()}."
    )
    other = library.book_payload(
        title=f"{unique} revised", copies_total=book["copies_total"] + rng.randint(1, 5), description="Reprint."
    )
    changes = {name: other[name] for name in CHANGES[case]}
    if changes.get("published_year") == book["published_year"]:
        changes["published_year"] += 1
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
