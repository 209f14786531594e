"""Ticket #6: a member can return someone else's loan.

Another member's loan is refused with 403 or 404 whatever its state, and the
refusal changes nothing: the loan stays out and its owner can still return it.
"""

import pytest

pytestmark = pytest.mark.ticket(6)


def return_loan(client, member, loan_id):
    return client.post(f"/loans/{loan_id}/return", headers=member.headers)


def test_other_member_cannot_return_a_loan(client, library):
    book = library.new_book(copies_total=1)
    owner, other = library.two_members()
    loan = library.must_borrow(owner, book["id"])

    response = return_loan(client, other, loan["id"])

    assert response.status_code in (403, 404), response.text
    assert [item["returned_at"] for item in library.loans_of(owner)] == [None]
    assert library.get_book(book["id"])["available_copies"] == 0


def test_owner_can_still_return_after_another_member_tried(client, library):
    book = library.new_book(copies_total=1)
    owner, other = library.two_members()
    loan = library.must_borrow(owner, book["id"])
    return_loan(client, other, loan["id"])

    response = return_loan(client, owner, loan["id"])

    assert response.status_code == 200, response.text
    assert response.json()["returned_at"] is not None
    assert library.get_book(book["id"])["available_copies"] == 1


def test_other_members_returned_loan_is_refused_too(client, library):
    book = library.new_book()
    owner, other = library.two_members()
    loan = library.must_borrow(owner, book["id"])
    assert return_loan(client, owner, loan["id"]).status_code == 200

    response = return_loan(client, other, loan["id"])

    assert response.status_code in (403, 404), response.text
