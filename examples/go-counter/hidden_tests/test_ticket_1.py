"""Ticket #1: an increment's step is a whole number from 1 to 1000; anything else is refused and
changes nothing."""

import pytest

pytestmark = pytest.mark.ticket(1)

BELOW_ONE = {"zero": 0, "minus_one": -1, "minus_many": -500}


def a_counter(rng) -> str:
    return f"c{rng.randrange(10**9)}"


@pytest.mark.parametrize("case", sorted(BELOW_ONE))
def test_a_step_below_one_is_refused_and_creates_nothing(client, rng, case):
    name = a_counter(rng)
    answer = client.post(f"/counters/{name}/increment", json={"by": BELOW_ONE[case]})
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert client.get(f"/counters/{name}").status_code == 404


@pytest.mark.parametrize("case", sorted(BELOW_ONE))
def test_a_step_below_one_leaves_a_counter_as_it_was(client, rng, case):
    name, start = a_counter(rng), rng.randrange(1, 1000)
    assert client.post(f"/counters/{name}/increment", json={"by": start}).status_code == 200
    assert client.post(f"/counters/{name}/increment", json={"by": BELOW_ONE[case]}).status_code == 400
    assert client.get(f"/counters/{name}").json()["value"] == start


@pytest.mark.guard
def test_steps_from_one_to_the_maximum_are_added(client, rng):
    name, steps = a_counter(rng), [1, rng.randrange(2, 1000), 1000]
    for step in steps:
        assert client.post(f"/counters/{name}/increment", json={"by": step}).status_code == 200
    assert client.get(f"/counters/{name}").json() == {"name": name, "value": sum(steps)}


@pytest.mark.guard
def test_a_step_above_the_maximum_is_refused(client, rng):
    assert client.post(f"/counters/{a_counter(rng)}/increment", json={"by": 1001}).status_code == 400
