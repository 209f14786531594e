"""Ticket #2: a note's title is text with at least one visible character; anything else is refused."""

import pytest

pytestmark = pytest.mark.ticket(2)

BLANKS = {"spaces": "   ", "tabs_and_newlines": "\t\n \t", "one_space": " "}
NOT_TEXT = {"number": 42, "list": ["groceries"], "object": {"text": "groceries"}, "true": True}


def refused(client, rng, title):
    """POST a note with this title in a notebook of its own: refused with 400, and not listed."""
    notebook = f"nb-{rng.randrange(10**9)}"
    answer = client.post("/notes", json={"notebook": notebook, "title": title, "body": "x"})
    listed = client.get("/notes", params={"notebook": notebook}).json()["notes"]
    return answer.status_code == 400 and "error" in answer.json() and listed == []


@pytest.mark.parametrize("case", sorted(BLANKS))
def test_a_blank_title_is_refused(client, rng, case):
    assert refused(client, rng, BLANKS[case])


@pytest.mark.parametrize("case", sorted(NOT_TEXT))
def test_a_title_that_is_not_text_is_refused(client, rng, case):
    assert refused(client, rng, NOT_TEXT[case])


@pytest.mark.guard
def test_a_note_with_a_title_is_created(client, rng):
    notebook, title = f"nb-{rng.randrange(10**9)}", f"  call {rng.randrange(10**6)}  "
    answer = client.post("/notes", json={"notebook": notebook, "title": title})
    assert answer.status_code == 201
    assert answer.json()["title"] == title
    assert [note["title"] for note in client.get("/notes", params={"notebook": notebook}).json()["notes"]] == [title]
