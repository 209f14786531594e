"""Ticket #3: refused changes show up anyway (database session handling).

A request that is refused must leave nothing behind: not in what the next
requests read, and not in what a later, unrelated write saves. Checked on the
three refusals that happen after the app has started writing: lowering
copies_total below the copies on loan, borrowing over the loan limit, and
borrowing a book with no copy left.
"""

import pytest

pytestmark = pytest.mark.ticket(3)


def test_refused_change_to_a_book_is_not_kept(client, library, unique):
    book = library.new_book(title=f"{unique} original", copies_total=2)
    for _ in range(2):
        library.must_borrow(library.new_member(), book["id"])

    response = client.patch(f"/books/{book['id']}", json={"title": f"{unique} renamed", "copies_total": 1})
    assert response.status_code == 409, response.text

    for moment in ("right after the refusal", "after another write"):
        current = library.get_book(book["id"])
        assert (current["title"], current["copies_total"]) == (f"{unique} original", 2), moment
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
    holder, latecomer = library.new_member(), library.new_member()
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
