"""One truth for what a run says: run_summary's per-ticket words, used alike by the reviewer's runs
list, the push timeline and the report; why tickets fail lists failing tickets only, and says so
when the app never started. Results are faked with store_verdicts: nothing is scored for real."""

import pytest
from django.urls import reverse

from portal.hosting.models import Push, RefUpdate
from portal.scoring.analysis import analysis_update
from portal.scoring.models import Run, TestResult
from portal.scoring.selectors import failing_hidden_tests, push_timeline, run_summary
from portal.scoring.services import analysis_request
from tests.support.factories import push_branches, record_push, store_verdicts

CRASHED = "the app did not start: the app exited with code 1 before it was ready:\nTraceback ..."


def _labels(branch, verdicts, status=Run.Status.FAILED):
    return run_summary(branch=branch, status=status, verdicts=verdicts).text


def test_a_ticket_branch_speaks_of_its_own_ticket_first():
    assert _labels("issue-1", [(1, True), (2, False), (3, False)]) == "fixes #1"
    assert _labels("issue-2", [(1, True), (2, False), (3, False)]) == "#2 still fails (also fixes #1)"
    assert _labels("issue-3", [(1, True), (2, True), (3, True)]) == "fixes #3 (also fixes #1 and #2)"
    assert run_summary(branch="issue-1", status=Run.Status.PASSED, verdicts=[(1, True)]).tone == "pass"
    assert run_summary(branch="issue-2", status=Run.Status.FAILED, verdicts=[(2, False)]).tone == "fail"


def test_other_refs_list_what_they_fix_and_what_still_fails():
    assert _labels("main", [(1, False), (2, False)]) == "fixes no ticket yet"
    assert _labels("integrated", [(1, True), (2, False), (3, False)]) == "fixes #1; #2 and #3 still fail"
    assert _labels("topic", [(3, False), (1, True), (2, True)]) == "fixes #1 and #2; #3 still fails"
    assert _labels("refs/portal/integrated", [(1, True), (2, True)]) == "fixes every ticket"
    assert _labels("main", []) == "scored"  # verdicts not read: no more than the state


def test_a_failing_ticket_that_earns_part_of_its_points_says_how_many():
    # Tickets whose hidden tests carry points earn a share for the tests that pass (grader.verdicts).
    assert _labels("issue-2", [(1, True, 10), (2, False, 6)]) == (
        "#2 still fails (6 points from the tests it passes) (also fixes #1)"
    )
    assert _labels("issue-2", [(2, False, 1)]) == "#2 still fails (1 point from the tests it passes)"
    assert (
        _labels("main", [(1, False, 3), (2, False, 0)])
        == "fixes no ticket yet (#1 earns 3 points from the tests it passes)"
    )
    assert _labels("integrated", [(1, True, 10), (2, False, 4), (3, False, 2)]) == (
        "fixes #1; #2 and #3 still fail (#2 earns 4 points, #3 earns 2 points from the tests it passes)"
    )
    # All or nothing (no points on its tests), or scored before partial credit: nothing more is said.
    assert _labels("issue-2", [(2, False, 0)]) == "#2 still fails"
    assert _labels("issue-2", [(2, False, None)]) == "#2 still fails"


def test_states_before_and_instead_of_a_score_read_as_such():
    assert run_summary(branch="issue-1", status=Run.Status.QUEUED, verdicts=[]).text == "queued"
    assert run_summary(branch="issue-1", status=Run.Status.QUEUED, verdicts=[], waiting=True).tone == "pending"
    error = run_summary(branch="issue-1", status=Run.Status.ERROR, verdicts=[], reason=CRASHED)
    assert error.text == "error: the app did not start: the app exited with code 1 before it was ready:"
    assert error.tone == "error"


@pytest.fixture
def scored(invite):
    """issue-1 fixes ticket 1, issue-2 does not fix ticket 2 (one hidden test fails), issue-3 crashed."""
    heads = push_branches(invite, 3)
    store_verdicts(invite, passing=frozenset({1}))
    issue2 = Run.objects.get(invite=invite, commit=heads["issue-2"])
    TestResult.objects.create(
        run=issue2, test_id="hidden/test_ticket_2.py::test_missing_book", ticket=2, outcome="failed", message="404"
    )
    Run.objects.filter(invite=invite, commit=heads["issue-3"]).update(status=Run.Status.ERROR, reason=CRASHED)
    analysis_request(invite=invite)
    analysis_update(invite_id=invite.pk)
    return invite


def test_why_tickets_fail_lists_only_failing_tickets_and_the_app_that_never_started(client, reviewer, scored):
    failures = {f.number: f for f in failing_hidden_tests(invite=scored)}
    assert set(failures) == {2, 3}  # ticket 1 is fixed on issue-1: not listed
    assert [t.name for t in failures[2].tests] == ["test_missing_book"] and not failures[2].error
    assert failures[3].error == "the app did not start: the app exited with code 1 before it was ready:"

    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[scored.public_id])).content.decode()
    why = page[page.index('id="why-tickets-fail"') : page.index("</section>", page.index('id="why-tickets-fail"'))]
    assert "No hidden test failed" not in why and "#1 " not in why
    assert "<code>test_missing_book</code>: 404" in why
    assert "No hidden test ran: the app did not start: the app exited with code 1 before it was ready:" in why


def test_every_ticket_fixed_says_so_instead_of_an_empty_list(client, reviewer, invite):
    push_branches(invite, 1)
    store_verdicts(invite, passing=frozenset({1}))
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    why = page[page.index('id="why-tickets-fail"') :]
    assert "Every ticket with a branch is fixed on it." in why[: why.index("</section>")]


def test_the_runs_list_and_the_timeline_say_the_same_per_ticket(client, reviewer, scored):
    client.force_login(reviewer)
    runs = client.get(reverse("invite_result_runs", args=[scored.public_id])).content.decode()
    page = client.get(reverse("invite_result", args=[scored.public_id])).content.decode()
    timeline = page[page.index('id="timeline"') :]
    for text in ("fixes #1", "#2 still fails (also fixes #1)"):
        assert text in runs and text in timeline
    assert "all branches together" in runs  # the portal's merge, named as what it is
    for words in ("hidden tests pass", "refs/portal", "Scored issue"):
        assert words not in runs and words not in page


def test_the_portals_own_refs_never_appear_in_the_timeline(invite):
    heads = push_branches(invite, 1)
    record_push(invite, [("0" * 40, heads["issue-1"], "refs/portal/integrated")])
    assert RefUpdate.objects.filter(ref="refs/portal/integrated").exists()
    timeline = push_timeline(invite=invite)
    assert [ref.branch for push in timeline for ref in push.refs] == ["issue-1"]
    assert len(timeline) == Push.objects.filter(invite=invite).count() - 1  # a push of internal refs only: gone


def test_the_runs_list_and_the_timeline_show_the_points_a_failing_ticket_earns(client, reviewer, scored):
    from portal.scoring.models import TicketVerdict

    issue2 = Run.objects.get(invite=scored, ref="refs/heads/issue-2")
    TicketVerdict.objects.filter(run=issue2, ticket=2).update(earned=6, tests_passed=3, tests_total=4)
    client.force_login(reviewer)
    runs = client.get(reverse("invite_result_runs", args=[scored.public_id])).content.decode()
    page = client.get(reverse("invite_result", args=[scored.public_id])).content.decode()
    timeline = page[page.index('id="timeline"') :]
    text = "#2 still fails (6 points from the tests it passes) (also fixes #1)"
    assert text in runs and text in timeline
