"""Partial credit within a ticket, as stored and read: a run's rows are built by the worker's own
run_result_rows from hidden-test outcomes (no sandbox: the outcomes are what a hidden run reports),
the analysis computes the matrix, and every reader counts the same partial points. Regression
guards are stored as such and listed on the reviewer's report as guards, under no ticket."""

import pytest
from django.urls import reverse

from grader.junit import TestOutcome
from portal.assessments.services import version_manifest
from portal.scoring.analysis import analysis_update, ticket_earned
from portal.scoring.models import InviteAnalysis, Run, TestResult, TicketVerdict
from portal.scoring.selectors import failing_guards, invite_result, tickets_score
from portal.scoring.services import analysis_request, run_result_rows
from tests.support.factories import push_branches


def _outcome(ticket: int, name: str, outcome: str, **properties: str) -> TestOutcome:
    return TestOutcome(f"test_ticket_{ticket}.py::{name}", ticket, outcome, 0.1, properties=properties)


def _store(run: Run, outcomes: list[TestOutcome]) -> None:
    results, verdicts = run_result_rows(run=run, manifest=version_manifest(run.assessment_version), outcomes=outcomes)
    TestResult.objects.bulk_create(results)
    TicketVerdict.objects.bulk_create(verdicts)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)


def _score_all(invite, issue2: str) -> None:
    """Every run fails every ticket, but issue-2's head passes 1 point of ticket 2's 4 and breaks a guard."""
    tickets = [t.number for t in version_manifest(invite.assessment_version).tickets]
    for _ in range(2):  # the analysis queues the integrated commit's run: score it too
        for run in Run.objects.filter(invite=invite, status=Run.Status.QUEUED):
            outcomes = [_outcome(n, "test_it", "failed") for n in tickets if n != 2]
            if run.commit == issue2:
                outcomes += [
                    _outcome(2, "test_missing_book_is_404", "passed", points="1"),
                    _outcome(2, "test_missing_loan_is_404", "failed", points="3"),
                    _outcome(2, "test_books_list", "failed", guard="1"),
                ]
            else:
                outcomes += [_outcome(2, "test_missing_book_is_404", "failed", points="1")]
            _store(run, outcomes)
        analysis_request(invite=invite)
        analysis_update(invite_id=invite.pk)


@pytest.fixture
def partial(invite):
    heads = push_branches(invite, 2)
    _score_all(invite, heads["issue-2"])
    return invite


def test_stored_rows_carry_points_guards_and_the_earned_share(partial):
    run = Run.objects.get(invite=partial, ref="refs/heads/issue-2")
    guard = TestResult.objects.get(run=run, test_id="test_ticket_2.py::test_books_list")
    weighted = TestResult.objects.get(run=run, test_id="test_ticket_2.py::test_missing_loan_is_404")
    assert (guard.guard, guard.points, weighted.guard, weighted.points) == (True, None, False, 3)
    verdict = TicketVerdict.objects.get(run=run, ticket=2)
    # Ticket 2 is worth 15: 15 * 1 // 4 = 3; the failing guard counts for no ticket.
    assert (verdict.passed, verdict.tests_passed, verdict.tests_total, verdict.earned) == (False, 1, 2, 3)
    assert TicketVerdict.objects.get(run=run, ticket=1).earned == 0  # no points: all or nothing


def test_the_partial_score_is_read_alike_by_tickets_score_and_invite_result(partial):
    stored = InviteAnalysis.objects.get(invite=partial).result
    assert tickets_score(stored["tickets"]) == (3, 100)
    result = invite_result(invite=partial)
    ticket2 = next(t for t in result.tickets if t.number == 2)
    assert (ticket2.passed, ticket2.earned, ticket2.points) == (False, 3, 15)
    assert (result.total, result.possible) == (3, 100)


def test_an_unfixed_ticket_never_earns_more_than_its_points_less_one():
    assert ticket_earned({"points": 15, "passed": False, "partial": 40}) == 14
    assert ticket_earned({"points": 15, "passed": False, "partial": True}) == 0
    assert ticket_earned({"points": 15, "passed": None}) == 0  # an analysis stored before partial credit


def test_the_report_shows_the_partial_points_and_the_failing_guard_as_a_guard(client, reviewer, partial):
    assert [(g.branch, [t.name for t in g.tests]) for g in failing_guards(invite=partial)] == [
        ("issue-2", ["test_books_list"])
    ]
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[partial.public_id])).content.decode()
    assert "not fixed on issue-2 (3/15)" in page
    why = page[page.index('id="why-tickets-fail"') : page.index("</section>", page.index('id="why-tickets-fail"'))]
    tickets, guards = why.split("Regression guards")
    assert "test_books_list" not in tickets  # listed under no ticket
    assert "<code>test_missing_loan_is_404</code>" in tickets
    assert "<mark>guard</mark> <code>test_books_list</code> fails on issue-2" in guards


def test_a_guard_only_the_branches_together_break_is_listed_for_them(client, reviewer, invite):
    """Each fix keeps the guard, the portal's merge of the branches breaks it: listed under that merge."""
    push_branches(invite, 2)
    tickets = [t.number for t in version_manifest(invite.assessment_version).tickets]
    for _ in range(2):  # the analysis queues the integrated commit's run: score it too
        for run in Run.objects.filter(invite=invite, status=Run.Status.QUEUED):
            together = run.ref.startswith("refs/portal/")
            outcomes = [_outcome(n, "test_it", "failed") for n in tickets]
            outcomes += [_outcome(2, "test_books_list", "failed" if together else "passed", guard="1")]
            _store(run, outcomes)
        analysis_request(invite=invite)
        analysis_update(invite_id=invite.pk)
    assert Run.objects.filter(invite=invite, ref__startswith="refs/portal/").exists()
    assert [(g.branch, [t.name for t in g.tests]) for g in failing_guards(invite=invite)] == [
        ("all branches together", ["test_books_list"])
    ]
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    assert "<mark>guard</mark> <code>test_books_list</code> fails on all branches together" in page
