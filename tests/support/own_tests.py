"""Finished runs with the candidate's own (visible) test results a worker would store, without the
sandbox: for tests of what the candidate's page shows of them."""

from __future__ import annotations

from portal.invites.models import Invite
from portal.scoring.hygiene import branch_ticket
from portal.scoring.models import Run
from tests.support.factories import store_verdicts

# The built-in assessment's shipped tests (tests/test_*.py): six of them are the tickets' own.
SHIPPED_VISIBLE_TESTS = 18


def ticket_tests(invite: Invite) -> dict[int, list[str]]:
    """Each ticket's visible test ids, from the manifest stored with the version."""
    return {t["number"]: list(t["visible_tests"]) for t in invite.assessment_version.manifest["tickets"]}


def store_own_tests(invite: Invite, *, fixed: frozenset[int] = frozenset({1}), broken: tuple[str, ...] = ()) -> None:
    """Finish every queued run (store_verdicts: the ``fixed`` tickets' hidden tests pass), then give
    each run of the candidate's branches its visible summary: on issue-<n>, ticket n's tests pass if
    n is in ``fixed``; every other ticket's fail, as shipped; the tests of no ticket pass but ``broken``."""
    store_verdicts(invite, passing=fixed)
    tests = ticket_tests(invite)
    for run in Run.objects.filter(invite=invite, ref__startswith="refs/heads/"):
        ticket = branch_ticket(run.ref.removeprefix("refs/heads/"))
        worked = ticket if ticket in fixed else None
        failed = [test_id for number, ids in tests.items() if number != worked for test_id in ids] + list(broken)
        run.visible = {
            "returncode": 1,
            "passed": SHIPPED_VISIBLE_TESTS - len(failed),
            "total": SHIPPED_VISIBLE_TESTS,
            "failed": failed,
            "output": "",
        }
        run.save(update_fields=["visible"])
