"""What a candidate reads of their pushes: each run's state and their own tests, ticket by ticket.

Every run runs all of the project's visible tests, whatever the branch. Validation proves that each
ticket's visible tests fail on the starting point and that a ticket's fix changes no other test's
result, so on issue-1 the other tickets' tests still fail, as shipped. Counted all together
("13 of 18 pass") that reads as this push's failure; grouped by ticket (the manifest's
``visible_tests``) it reads as what happened: "your tests for #1: 1 of 1 pass", the other tickets
not worked on in this branch.

Rows only and a fixed number of queries, whatever was pushed: the candidate's page polls this every
few seconds while the invite is open. What a candidate may see is the assessment's choice
(Assessment.candidate_results): the hidden tests never appear by name, and per-ticket verdicts only
where the assessment shows them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils import timezone

from portal.assessments.models import Assessment
from portal.hosting.models import Repository
from portal.invites.models import Invite
from portal.scoring.analysis import visible_failed
from portal.scoring.hygiene import branch_ticket
from portal.scoring.models import Run
from portal.scoring.selectors import RunLabel, RunStatus, invite_run_statuses, runs_pending, ticket_list


@dataclass(frozen=True)
class TestGroup:
    """Some of a run's visible tests: one ticket's, or those of no ticket (``ticket`` None)."""

    __test__ = False  # a dataclass, not a pytest test class

    ticket: int | None
    total: int
    failed: tuple[str, ...]  # the ids of those that did not pass

    @property
    def passed(self) -> int:
        return self.total - len(self.failed)

    @property
    def passing(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class CandidateRun:
    """One run as the candidate sees it. ``own``/``others``/``rest`` are filled once its visible tests
    ran (after the verdict: ``status.visible_state`` is "pending" until then) and the assessment shows
    visible results; ``status.tickets`` once it shows per-ticket verdicts."""

    status: RunStatus
    ticket: int | None  # the ticket of the branch's name (issue-<n>), if the assessment has it
    starting_point: bool  # the portal's starting commit on main, scored with the first push
    own: TestGroup | None = None  # the tests of the branch's ticket
    others: tuple[TestGroup, ...] = ()  # every other ticket's tests (all of them on a branch of no ticket)
    rest: TestGroup | None = None  # tests of no ticket: those shipped passing, and the candidate's own

    @property
    def tests_shown(self) -> bool:
        return self.own is not None or bool(self.others) or self.rest is not None

    @property
    def others_passing(self) -> str:
        """The other tickets whose tests pass, in words ("#3", "#3 and #5"); "" for none."""
        numbers = [group.ticket for group in self.others if group.passing]
        return ticket_list(numbers) if numbers else ""

    @property
    def others_failing(self) -> str:
        numbers = [group.ticket for group in self.others if not group.passing]
        return ticket_list(numbers) if numbers else ""

    @property
    def failing_groups(self) -> list[TestGroup]:
        """The groups whose failing tests are listed: the branch's ticket and the tests of no ticket.
        Another ticket's tests, failing as shipped on a ticket's branch, are not this push's failures;
        on a branch of no ticket, every ticket's are listed."""
        groups = [self.own, *(self.others if self.ticket is None else ()), self.rest]
        return [group for group in groups if group is not None and group.failed]

    @property
    def verdict(self) -> RunLabel | None:
        """Where the assessment shows tickets, what the hidden tests say once scored (run_summary, the
        words every page uses): "fixes #1", "#1 still fails", "fixes #2; #1 and #3 still fail"."""
        return self.status.summary if self.status.tickets and self.status.finished else None


@dataclass(frozen=True)
class CandidateRuns:
    runs: list[CandidateRun]
    shown: str  # Assessment.candidate_results
    open: bool  # the candidate can still push
    pending: bool  # a run is queued or running, or its visible tests still run

    @property
    def live(self) -> bool:
        """Whether the page should ask again: a push may still come, or a run is still to finish."""
        return self.open or self.pending

    @property
    def state(self) -> str:
        """A short digest of everything the runs list shows: the same digest, nothing to redraw."""
        seen = [
            (r.status.ref, r.status.commit, r.status.status, r.status.waiting, r.status.visible_state)
            for r in self.runs
        ]
        digest = hashlib.sha256(repr((seen, self.shown, self.open)).encode()).hexdigest()
        return digest[:16]


def invite_candidate_runs(*, invite: Invite, limit: int = 20) -> CandidateRuns:
    """The invite's latest runs, newest first, with what the assessment lets the candidate see.

    Four queries at most (the assessment, the starting commit, the runs, their verdicts); the
    manifest is the copy stored on the version row, already loaded with the invite.
    """
    shown = Assessment.objects.values_list("candidate_results", flat=True).get(
        pk=invite.assessment_version.assessment_id
    )
    levels = Assessment.CandidateResults
    statuses = invite_run_statuses(
        invite=invite, limit=limit, visible=shown in (levels.VISIBLE, levels.TICKETS), tickets=shown == levels.TICKETS
    )
    base = Repository.objects.filter(invite=invite).values_list("base_commit", flat=True).first() if statuses else None
    tickets = {
        ticket["number"]: tuple(ticket.get("visible_tests", ()))
        for ticket in invite.assessment_version.manifest.get("tickets", [])
    }
    runs = [_candidate_run(status, tickets=tickets, base=base) for status in statuses]
    return CandidateRuns(
        runs=runs,
        shown=shown,
        open=invite.status == Invite.Status.ACTIVE and not invite.is_expired(timezone.now()),
        pending=runs_pending(statuses),
    )


def _candidate_run(status: RunStatus, *, tickets: dict[int, tuple[str, ...]], base: str | None) -> CandidateRun:
    ticket = branch_ticket(status.ref)
    ticket = ticket if ticket in tickets else None
    run = CandidateRun(status=status, ticket=ticket, starting_point=status.commit == base and status.ref == "main")
    # An app that did not start (an error) still has its tests run: they say why, in their own words.
    if status.status not in Run.FINISHED or not status.visible_total:
        return run
    failed = list(status.visible_failed)
    groups = {
        number: TestGroup(
            ticket=number,
            total=len(tests),
            failed=tuple(test_id for test_id in tests if visible_failed(test_id, failed)),
        )
        for number, tests in tickets.items()
        if tests
    }
    ticket_tests = [test_id for tests in tickets.values() for test_id in tests]
    rest_failed = tuple(test_id for test_id in failed if not any(visible_failed(t, [test_id]) for t in ticket_tests))
    # A branch may have deleted or added tests: never fewer than those that failed.
    rest_total = max(status.visible_total - sum(group.total for group in groups.values()), len(rest_failed))
    return CandidateRun(
        status=status,
        ticket=ticket,
        starting_point=run.starting_point,
        own=groups.pop(ticket, None),
        others=tuple(groups.values()),
        rest=TestGroup(ticket=None, total=rest_total, failed=rest_failed) if rest_total else None,
    )
