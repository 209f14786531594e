"""Ticket #3: refused changes show up anyway (database session handling).

A request that is refused must leave nothing behind: not in what the next
requests read, and not in what a later, unrelated write saves. Checked on the
three refusals that happen after the app has started writing: lowering
copies_total below the copies on loan, borrowing over the loan limit, and
borrowing a book with no copy left.

And requests don't interfere with each other: reads and writes sent several at
a time all get their own, right answer. One database session shared by every
request fails there, however carefully it is rolled back after a refusal.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import describe

pytestmark = pytest.mark.ticket(3)

# Bursts of requests sent all at once: how many bursts, and how many requests in each.
BURSTS, AT_ONCE = 10, 10


def test_refused_change_to_a_book_is_not_kept(client, library, unique, rng):
    copies = rng.randint(2, 3)
    book = library.new_book(title=f"{unique} original", copies_total=copies)
    for _ in range(copies):
        library.must_borrow(library.new_member(), book["id"])

    changes = {"title": f"{unique} renamed", "copies_total": rng.randint(0, copies - 1)}
    response = client.patch(f"/books/{book['id']}", json=changes)
    assert response.status_code == 409, response.text

    for moment in ("right after the refusal", "after another write"):
        current = library.get_book(book["id"])
        assert (current["title"], current["copies_total"]) == (f"{unique} original", copies), moment
        assert current["available_copies"] == 0, moment
        library.new_book()  # an unrelated write, which must not save the refused change


def test_refused_loan_over_the_limit_is_not_kept(library):
    member = library.new_member()
    accepted = []
    for _ in range(10):
        book = library.new_book(copies_total=2)
        response = library.borrow(member, book["id"])
        if response.status_code == 409:
            refused_book = book
            break
        assert response.status_code == 201, response.text
        accepted.append(response.json()["id"])
    else:
        pytest.fail("the loan limit was never reached in 10 loans")

    for moment in ("right after the refusal", "after another write"):
        assert sorted(loan["id"] for loan in library.loans_of(member)) == sorted(accepted), moment
        assert library.get_book(refused_book["id"])["available_copies"] == 2, moment
        library.new_book()


def test_refused_loan_of_the_last_copy_is_not_kept(client, library):
    book = library.new_book(copies_total=1)
    holder, latecomer = library.two_members()
    loan = library.must_borrow(holder, book["id"])

    response = library.borrow(latecomer, book["id"])
    assert response.status_code == 409, response.text

    for moment in ("right after the refusal", "after another write"):
        assert library.loans_of(latecomer) == [], moment
        assert library.get_book(book["id"])["available_copies"] == 0, moment
        library.new_book()

    returned = client.post(f"/loans/{loan['id']}/return", headers=holder.headers)
    assert returned.status_code == 200, returned.text
    assert library.get_book(book["id"])["available_copies"] == 1


@pytest.mark.runs_last
def test_requests_sent_at_the_same_time_each_get_their_own_answer(client, library, rng):
    book = library.new_book(copies_total=rng.randint(1, 4))
    # Every request is decided before any is sent: the same seed sends the same ones. A listing of
    # the catalogue keeps a session busy for a while; a new member commits.
    kinds = ("list", "read", "join")
    bursts = [
        [(kind, library.member_payload()) for kind in rng.choices(kinds, weights=(2, 1, 2), k=AT_ONCE)]
        for _ in range(BURSTS)
    ]

    def send(request: tuple[str, dict]) -> str:
        """What went wrong with this request, or nothing."""
        kind, member = request
        try:
            if kind == "list":
                response = client.get("/books", params={"page": 1, "page_size": 100})
                ok = response.status_code == 200 and bool(response.json().get("items"))
            elif kind == "read":
                response = client.get(f"/books/{book['id']}")
                ok = response.status_code == 200 and response.json().get("title") == book["title"]
            else:
                response = client.post("/members", json=member)
                ok = response.status_code == 201 and response.json().get("email") == member["email"]
        except Exception as exc:  # a dropped connection is a wrong answer too
            return f"{kind}: {type(exc).__name__}: {exc}"
        return "" if ok else describe(response)

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        wrong = [problem for burst in bursts for problem in pool.map(send, burst) if problem]

    total = BURSTS * AT_ONCE
    assert not wrong, f"{len(wrong)} of {total} requests sent {AT_ONCE} at a time went wrong, for example: {wrong[0]}"
