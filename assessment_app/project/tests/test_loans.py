from datetime import datetime, timedelta


def test_borrow_and_return(client, make_book, make_member):
    book = make_book(copies_total=1)
    member = make_member()

    borrowed = client.post("/loans", json={"book_id": book["id"]}, headers=member["headers"])
    assert borrowed.status_code == 201
    loan = borrowed.json()
    assert loan["returned_at"] is None
    due = datetime.fromisoformat(loan["due_at"]) - datetime.fromisoformat(loan["borrowed_at"])
    assert due == timedelta(days=14)
    assert client.get(f"/books/{book['id']}").json()["available_copies"] == 0

    returned = client.post(f"/loans/{loan['id']}/return", headers=member["headers"])
    assert returned.status_code == 200
    assert returned.json()["returned_at"] is not None
    assert client.get(f"/books/{book['id']}").json()["available_copies"] == 1


def test_borrowing_needs_an_api_key(client, make_book):
    book = make_book()

    assert client.post("/loans", json={"book_id": book["id"]}).status_code == 401


def test_no_copy_left(client, make_book, make_member):
    book = make_book(copies_total=1)
    client.post("/loans", json={"book_id": book["id"]}, headers=make_member()["headers"])

    response = client.post("/loans", json={"book_id": book["id"]}, headers=make_member()["headers"])

    assert response.status_code == 409


def test_list_my_loans(client, make_book, make_member):
    member = make_member()
    books = [make_book(), make_book()]
    for book in books:
        client.post("/loans", json={"book_id": book["id"]}, headers=member["headers"])

    response = client.get("/loans", headers=member["headers"])

    assert response.status_code == 200
    assert {loan["book_id"] for loan in response.json()} == {book["id"] for book in books}


def test_refused_change_to_copies_is_not_kept(client, make_book, make_member):
    book = make_book(copies_total=2)
    for _ in range(2):
        client.post("/loans", json={"book_id": book["id"]}, headers=make_member()["headers"])

    response = client.patch(f"/books/{book['id']}", json={"copies_total": 1})
    assert response.status_code == 409

    assert client.get(f"/books/{book['id']}").json()["copies_total"] == 2


def test_member_cannot_return_someone_elses_loan(client, make_book, make_member):
    book = make_book()
    owner, other = make_member(), make_member()
    loan = client.post("/loans", json={"book_id": book["id"]}, headers=owner["headers"]).json()

    response = client.post(f"/loans/{loan['id']}/return", headers=other["headers"])

    assert response.status_code in (403, 404)
