def test_create_member_returns_an_api_key(client, unique):
    response = client.post("/members", json={"name": "Ada", "email": f"ada-{unique}@example.org"})

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Ada"
    assert body["api_key"]


def test_duplicate_email_is_a_conflict(client, make_member):
    member = make_member()

    response = client.post("/members", json={"name": "Someone", "email": member["email"]})

    assert response.status_code == 409


def test_me_needs_a_valid_api_key(client, make_member):
    member = make_member(name="Grace")

    assert client.get("/members/me").status_code == 401
    assert client.get("/members/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/members/me", headers=member["headers"])
    assert response.status_code == 200
    assert response.json()["name"] == "Grace"
