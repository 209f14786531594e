def test_a_new_tool_has_every_unit_available(make_tool):
    tool = make_tool(units=3)
    assert (tool["units"], tool["units_out"], tool["units_available"]) == (3, 0, 3)


def test_a_returned_unit_is_available_again(client, make_tool):
    tool = make_tool(units=2)
    loan = client.post("/loans", json={"tool_id": tool["id"], "member": "Ann"}).json()
    assert client.post(f"/loans/{loan['id']}/return").status_code == 200

    shown = client.get(f"/tools/{tool['id']}").json()
    assert (shown["units_out"], shown["units_available"]) == (0, 2)
