"""Ticket #1: catalogue pages overlap.

Walks every page of a search whose matches the test created itself, for
several page sizes, and checks that the pages split the matches exactly: no
page longer than page_size, every match once and in title order, and
has_next true exactly until the last page, including when the last page is
exactly full.
"""

import math

import pytest

pytestmark = pytest.mark.ticket(1)


def fetch_page(client, q, page, page_size):
    response = client.get("/books", params={"q": q, "page": page, "page_size": page_size})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["page"] == page
    assert body["page_size"] == page_size
    return body


def walk(client, q, page_size, max_pages=30):
    pages = [fetch_page(client, q, 1, page_size)]
    while pages[-1]["has_next"]:
        assert len(pages) < max_pages, "has_next never became false"
        pages.append(fetch_page(client, q, len(pages) + 1, page_size))
    return pages


def titles(page):
    return [item["title"] for item in page["items"]]


# Page sizes of each case: the seed picks one; the last page is partly filled or full, as it falls.
PAGE_SIZES = {"small": (2, 3), "medium": (3, 4), "large": (5, 6)}


@pytest.mark.parametrize("size", list(PAGE_SIZES))
def test_pages_split_the_matches_exactly(client, library, unique, rng, size):
    page_size = rng.choice(PAGE_SIZES[size])
    word = rng.choice(("volume", "part", "book", "tome"))
    expected = [f"{unique} {word} {number:02d}" for number in range(1, rng.randint(page_size + 2, 2 * page_size + 2))]
    for title in rng.sample(expected, len(expected)):  # created out of order: the listing sorts by title
        library.new_book(title=title)

    pages = walk(client, unique, page_size)

    for number, page in enumerate(pages, start=1):
        assert len(page["items"]) <= page_size, f"page {number} has {len(page['items'])} items for {page_size=}"
    assert [title for page in pages for title in titles(page)] == expected
    assert len(pages) == math.ceil(len(expected) / page_size)


def test_full_last_page_has_no_next(client, library, unique, rng):
    page_size = rng.randint(2, 4)
    expected = [f"{unique} part {number}" for number in range(1, 2 * page_size + 1)]
    for title in rng.sample(expected, len(expected)):
        library.new_book(title=title)

    first = fetch_page(client, unique, 1, page_size)
    second = fetch_page(client, unique, 2, page_size)
    beyond = fetch_page(client, unique, 3, page_size)

    assert (titles(first), first["has_next"]) == (expected[:page_size], True)
    assert (titles(second), second["has_next"]) == (expected[page_size:], False)
    assert (titles(beyond), beyond["has_next"]) == ([], False)


def test_one_book_per_page(client, library, unique, rng):
    expected = [f"{unique} {letter}" for letter in sorted(rng.sample("abcdefghijklmnopqrstuvwxyz", rng.randint(3, 4)))]
    for title in rng.sample(expected, len(expected)):
        library.new_book(title=title)

    pages = [fetch_page(client, unique, number, 1) for number in range(1, len(expected) + 1)]

    assert [titles(page) for page in pages] == [[title] for title in expected]
    assert [page["has_next"] for page in pages] == [True] * (len(expected) - 1) + [False]
