def test_create_and_read_book(client, make_book, unique):
    book = make_book(title=f"Dune {unique}", author="Frank Herbert", published_year=1965, copies_total=2)

    response = client.get(f"/books/{book['id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == f"Dune {unique}"
    assert body["author"] == "Frank Herbert"
    assert body["published_year"] == 1965
    assert body["copies_total"] == 2
    assert body["available_copies"] == 2


def test_duplicate_isbn_is_a_conflict(client, make_book):
    book = make_book()

    response = client.post("/books", json={"title": "Another", "author": "Someone", "isbn": book["isbn"]})

    assert response.status_code == 409


def test_search_matches_title_and_author(client, make_book, unique):
    by_title = make_book(title=f"Gardens of {unique}")
    by_author = make_book(author=f"Ann {unique}")
    make_book(title="Something else entirely")

    response = client.get("/books", params={"q": unique.upper()})

    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    assert ids == {by_title["id"], by_author["id"]}


def test_pages_do_not_overlap(client, make_book, unique):
    for letter in "abc":
        make_book(title=f"{unique} {letter}")

    first = client.get("/books", params={"q": unique, "page": 1, "page_size": 2}).json()
    second = client.get("/books", params={"q": unique, "page": 2, "page_size": 2}).json()

    assert [item["title"] for item in first["items"]] == [f"{unique} a", f"{unique} b"]
    assert first["has_next"] is True
    assert [item["title"] for item in second["items"]] == [f"{unique} c"]
    assert second["has_next"] is False


def test_missing_book_is_not_found(client):
    response = client.get("/books/987654321")

    assert response.status_code == 404


def test_update_changes_only_the_fields_sent(client, make_book):
    book = make_book(description="A desert planet.")

    response = client.patch(f"/books/{book['id']}", json={"title": "Dune (50th anniversary edition)"})

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Dune (50th anniversary edition)"
    assert body["description"] == "A desert planet."


def test_negative_number_of_copies_is_rejected(client, unique):
    payload = {"title": f"Book {unique}", "author": "Someone", "isbn": "9789999999990", "copies_total": -1}

    response = client.post("/books", json=payload)

    assert response.status_code == 422


def test_delete_book(client, make_book):
    book = make_book()

    assert client.delete(f"/books/{book['id']}").status_code == 204
    # Gone from the catalogue.
    assert book["id"] not in {item["id"] for item in client.get("/books", params={"q": book["title"]}).json()["items"]}
