"""Ticket #2: counter names are case-insensitive: one counter, named in lower case."""

import pytest

pytestmark = pytest.mark.ticket(2)


def a_name(rng) -> str:
    return f"visits{rng.randrange(10**9)}"


def test_increments_in_any_case_count_on_one_counter(client, rng):
    name = a_name(rng)
    for spelled in (name.capitalize(), name, name.upper()):
        assert client.post(f"/counters/{spelled}/increment", json={"by": 2}).status_code == 200
    assert client.get(f"/counters/{name}").json() == {"name": name, "value": 6}


def test_a_counter_is_read_in_any_case(client, rng):
    name = a_name(rng)
    assert client.post(f"/counters/{name}/increment").status_code == 200
    answer = client.get(f"/counters/{name.upper()}")
    assert answer.status_code == 200
    assert answer.json() == {"name": name, "value": 1}


def test_the_list_names_each_counter_once_in_lower_case(client, rng):
    name = a_name(rng)
    client.post(f"/counters/{name.upper()}/increment", json={"by": 3})
    client.post(f"/counters/{name}/increment", json={"by": 4})
    listed = [c for c in client.get("/counters").json()["counters"] if c["name"].lower() == name]
    assert listed == [{"name": name, "value": 7}]


@pytest.mark.guard
def test_a_counter_never_incremented_is_not_found(client, rng):
    assert client.get(f"/counters/{a_name(rng)}").status_code == 404
