"""From hidden-test outcomes to a verdict per ticket: the rule every score rests on."""

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


def ticket_verdicts(manifest: Manifest, outcomes: Iterable[TestOutcome]) -> list[TicketVerdict]:
    """One verdict per ticket of the manifest, in ticket order.

    A ticket with no outcome at all (its tests never ran) is not passed: an empty report
    must never read as a fix.
    """
    outcomes = list(outcomes)
    verdicts = []
    for ticket in manifest.tickets:
        mine = [o for o in outcomes if o.ticket == ticket.number]
        passed = sum(o.outcome == "passed" for o in mine)
        verdicts.append(
            TicketVerdict(
                ticket=ticket.number,
                passed=bool(mine) and passed == len(mine),
                tests_passed=passed,
                tests_total=len(mine),
            )
        )
    return verdicts
