"""Ticket #2: a returned unit still counts as lent.

A tool's page counts the units out now: lent and not returned. Returning a unit changes neither the
tool's number of units nor anything but that count.
"""

import pytest
from conftest import describe

pytestmark = pytest.mark.ticket(2)


def test_the_counts_follow_loans_and_returns(library, rng):
    units = rng.randint(3, 5)
    tool = library.new_tool(units)
    loans = [library.must_borrow(tool) for _ in range(rng.randint(2, units))]
    returned = rng.sample(loans, rng.randint(1, len(loans) - 1))
    for loan in returned:
        answer = library.give_back(loan)
        assert answer.status_code == 200, describe(answer)

    shown = library.tool(tool)
    out = len(loans) - len(returned)
    assert (shown["units"], shown["units_out"], shown["units_available"]) == (units, out, units - out)


def test_a_returned_unit_can_be_lent_again_and_the_tool_shows_it(library, rng):
    units = rng.randint(1, 3)
    tool = library.new_tool(units)
    loans = [library.must_borrow(tool) for _ in range(units)]
    assert library.give_back(rng.choice(loans)).status_code == 200
    assert library.tool(tool)["units_available"] == 1

    library.must_borrow(tool)
    shown = library.tool(tool)
    assert (shown["units"], shown["units_out"], shown["units_available"]) == (units, units, 0)
