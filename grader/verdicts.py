"""From hidden-test outcomes to a verdict per ticket: the rule every score rests on.

A ticket is fixed when every one of its hidden tests ran and passed; a fixed ticket earns all the
points the manifest gives it. A ticket none of whose tests carries points (the default) earns
nothing otherwise: all or nothing. When any of its tests is marked with points
(``@pytest.mark.ticket(2, points=3)``; a test of that ticket without them weighs 1), an unfixed
ticket earns a share of its points, rounded down to whole points::

    earned = ticket points * points of the passing tests // points of all its tests

so only a fix earns the whole ticket. Regression guards count for no ticket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .junit import TestOutcome
from .manifest import Manifest


@dataclass(frozen=True)
class TicketVerdict:
    """Whether one commit fixes one ticket: every hidden test of the ticket ran and passed."""

    ticket: int
    passed: bool
    tests_passed: int
    tests_total: int
    earned: int = 0  # the ticket's points this run earns: all when passed, else its partial credit, if any


def partial_credit(points: int, outcomes: list[TestOutcome]) -> int:
    """The points a ticket's outcomes earn by the module's rule (its full points only when all pass)."""
    if outcomes and all(o.passed for o in outcomes):
        return points
    if not any(o.points is not None for o in outcomes):
        return 0
    total = sum(o.points or 1 for o in outcomes)
    return points * sum(o.points or 1 for o in outcomes if o.passed) // total


def ticket_verdicts(manifest: Manifest, outcomes: Iterable[TestOutcome]) -> list[TicketVerdict]:
    """One verdict per ticket of the manifest, in ticket order.

    A ticket with no outcome at all (its tests never ran) is not passed: an empty report
    must never read as a fix. Regression guards (tests marked guard) count for no ticket: they
    pass on the shipped project already, and validation proves it.
    """
    outcomes = list(outcomes)
    verdicts = []
    for ticket in manifest.tickets:
        mine = [o for o in outcomes if o.ticket == ticket.number and not o.guard]
        passed = sum(o.outcome == "passed" for o in mine)
        verdicts.append(
            TicketVerdict(
                ticket=ticket.number,
                passed=bool(mine) and passed == len(mine),
                tests_passed=passed,
                tests_total=len(mine),
                earned=partial_credit(ticket.points, mine),
            )
        )
    return verdicts
