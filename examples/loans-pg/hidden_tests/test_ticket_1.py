"""Ticket #1: two members were both lent the last unit (a read, then a write, with no lock between).

Bursts of loans of the same tool reach the app at the same moment (the grader's at_once: held back
by their last byte, then let go together), however busy the machine, and the app runs two worker
processes: no more units are lent than the tool has, every other loan is refused with 409, and the
tool shows every unit out.
"""

import pytest
from conftest import describe

pytestmark = pytest.mark.ticket(1)

BURSTS, MEMBERS = 12, 8


@pytest.mark.concurrency
@pytest.mark.runs_last
def test_loans_at_the_same_moment_never_lend_more_units_than_the_tool_has(client, library, at_once, rng):
    wrong = []
    for _ in range(BURSTS):
        units = rng.randint(1, 3)
        tool = library.new_tool(units)
        for _ in range(units - 1):  # the burst is for the last unit
            library.must_borrow(tool)
        requests = [
            client.build_request("POST", "/loans", json={"tool_id": tool["id"], "member": library.member()})
            for _ in range(MEMBERS)
        ]
        _first, answers = at_once(requests, first=client.build_request("GET", "/health"))
        statuses = sorted(a.status_code if not isinstance(a, Exception) else type(a).__name__ for a in answers)
        shown = library.tool(tool)
        if statuses != sorted([201] + [409] * (MEMBERS - 1)) or shown["units_out"] != units:
            example = next((describe(a) for a in answers if not isinstance(a, Exception) and a.status_code == 201), "")
            wrong.append(f"{units} units: answers {statuses}, {shown['units_out']} out; {example}")

    assert not wrong, f"{len(wrong)} of {BURSTS} bursts lent wrong, for example: {wrong[0]}"


@pytest.mark.guard
def test_a_loan_when_every_unit_is_out_is_refused(library, rng):
    units = rng.randint(1, 3)
    tool = library.new_tool(units)
    for _ in range(units):
        library.must_borrow(tool)
    refused = library.borrow(tool)
    assert refused.status_code == 409, describe(refused)
