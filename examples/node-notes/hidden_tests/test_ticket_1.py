"""Ticket #1: each page of a notebook holds per_page notes, and the next page starts after it."""

import pytest

pytestmark = pytest.mark.ticket(1)


def notebook_of(client, rng, count):
    """A notebook of its own (the app keeps every test's notes), and its notes' titles in order."""
    notebook = f"nb-{rng.randrange(10**9)}"
    titles = [f"note {rng.randrange(10**6)}-{n}" for n in range(count)]
    for title in titles:
        assert client.post("/notes", json={"notebook": notebook, "title": title}).status_code == 201
    return notebook, titles


def page(client, notebook, number, per_page):
    answer = client.get("/notes", params={"notebook": notebook, "page": number, "per_page": per_page})
    assert answer.status_code == 200
    return [note["title"] for note in answer.json()["notes"]]


def test_the_pages_list_every_note_once_in_order(client, rng):
    per_page = rng.choice([2, 3, 4])
    notebook, titles = notebook_of(client, rng, rng.randint(3 * per_page + 1, 4 * per_page - 1))
    pages = [page(client, notebook, number, per_page) for number in range(1, 5)]
    assert [len(notes) for notes in pages[:3]] == [per_page] * 3
    assert [title for notes in pages for title in notes] == titles


def test_the_first_page_starts_with_the_first_note(client, rng):
    per_page = rng.choice([3, 5])
    notebook, titles = notebook_of(client, rng, per_page + 2)
    assert page(client, notebook, 1, per_page) == titles[:per_page]


@pytest.mark.guard
def test_a_notebook_smaller_than_a_page_is_listed_whole(client, rng):
    notebook, titles = notebook_of(client, rng, 3)
    assert page(client, notebook, 1, 10) == titles
