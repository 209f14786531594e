"""What a run's state and reason tell people: in words that say what they mean, with the reason a
reviewer can act on, and "in progress" for as long as anything the result depends on is."""

import pytest
from django.template.loader import render_to_string

from portal.scoring.analysis import analysis_update
from portal.scoring.models import Run
from portal.scoring.selectors import invite_pending, invite_result, invite_run_statuses
from portal.scoring.services import MESSAGE_CAP, analysis_request, reason_capped
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import push_branches, score_all, store_verdicts

MAIN = (ROOT / "assessment_app" / "project" / "app" / "main.py").read_text()
# One long line of output, then the exception: the line that says what went wrong comes last.
CRASH = 'import sys\n\nprint("x" * 5000, file=sys.stderr)\nimport module_that_is_not_installed  # noqa\n'


@pytest.fixture
def crashed(invite, tmp_path) -> Run:
    sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"app/main.py": CRASH + MAIN})
    score_all(invite)
    return Run.objects.get(invite=invite, commit=sha)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_crashed_apps_reason_keeps_what_ended_it_and_the_exception_after_long_output(crashed):
    assert crashed.status == Run.Status.ERROR
    assert len(crashed.reason) <= MESSAGE_CAP
    # The first line, which pages show, names the exception; how the app ended follows it.
    assert crashed.reason.startswith(
        "the app did not start: ModuleNotFoundError: No module named 'module_that_is_not_installed'\n"
        "the app exited with code 1 before it was ready"
    )
    assert crashed.reason.rstrip().endswith("ModuleNotFoundError: No module named 'module_that_is_not_installed'")


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_an_errored_runs_tickets_fail_with_its_reason_instead_of_a_dash(invite, crashed):
    result = invite_result(invite=invite)
    branch = next(b for b in result.branches if b.branch == "issue-1")
    assert {cell.passed for cell in branch.cells.values()} == {False}
    assert {cell.error for cell in branch.cells.values()} == {
        "the app did not start: ModuleNotFoundError: No module named 'module_that_is_not_installed'"
    }
    # Ticket 1's verdict is "not fixed", not "pending": nothing will change it short of a new push.
    ticket = next(t for t in result.tickets if t.number == 1)
    assert (ticket.branch, ticket.passed, ticket.earned) == ("issue-1", False, 0)

    html = render_to_string("scoring/_ticket_matrix.html", {"result": result})
    missing = "No module named &#x27;module_that_is_not_installed&#x27;"
    assert f'title="the app did not start: ModuleNotFoundError: {missing}">run error' in html
    assert "not fixed on issue-1 (0/15)" in html


def test_run_states_say_what_they_mean(invite):
    push_branches(invite, 2)
    labels = {s.ref: s.label for s in invite_run_statuses(invite=invite, hidden=True)}
    assert labels == {
        "main": "queued",
        "issue-1": "waiting for the earlier runs of this invite",
        "issue-2": "waiting for the earlier runs of this invite",
    }

    store_verdicts(invite, passing=frozenset({1}))
    labels = {s.ref: s.label for s in invite_run_statuses(invite=invite, tickets=True)}
    # Ticket 1 passes, the others fail: "failed" read as a broken run, this says what happened, per ticket.
    assert labels == {
        "main": "fixes #1; #2, #3, #4, #5 and #6 still fail",
        "issue-1": "fixes #1",
        "issue-2": "#2 still fails (also fixes #1)",
    }
    # Without the verdicts, nothing more than the state.
    assert {s.ref: s.label for s in invite_run_statuses(invite=invite)}["issue-1"] == "scored"


def test_an_error_and_a_superseded_run_read_as_such(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    base = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    Run.objects.filter(pk=base.pk).update(status=Run.Status.ERROR, reason="the sandbox is unavailable: no bwrap\nmore")
    labels = {s.commit: s.label for s in invite_run_statuses(invite=invite)}
    assert labels[base.commit] == "error: the sandbox is unavailable: no bwrap"
    assert labels[first] == "superseded: a newer push replaced it before it ran"


def test_pending_lasts_while_the_integrated_run_is_queued(invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    candidate_commit(invite, tmp_path / "work-2", branch="issue-2", message="Fix: Resolve issue #2 - change")
    Run.objects.filter(invite=invite).update(status=Run.Status.FAILED)
    analysis_request(invite=invite)  # as the finished runs would
    analysis_update(invite_id=invite.pk)  # merges the ticket branches and queues the integrated run
    integrated = Run.objects.get(invite=invite, ref__startswith="refs/portal/")
    assert integrated.status == Run.Status.QUEUED

    # Every run the candidate pushed is done, but the result still depends on the integrated one.
    assert invite_pending(invite=invite)
    assert invite_result(invite=invite).pending
    reviewer_rows = {s.ref: s.label for s in invite_run_statuses(invite=invite, internal=True)}
    assert reviewer_rows["integrated"] == "queued"
    # The candidate never pushed it: their list leaves it out.
    assert "integrated" not in {s.ref for s in invite_run_statuses(invite=invite)}

    Run.objects.filter(pk=integrated.pk).update(status=Run.Status.FAILED)
    assert not invite_pending(invite=invite)


def test_the_reviewers_runs_list_polls_until_the_integrated_run_is_done(client, reviewer, invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    candidate_commit(invite, tmp_path / "work-2", branch="issue-2", message="Fix: Resolve issue #2 - change")
    Run.objects.filter(invite=invite).update(status=Run.Status.FAILED)
    analysis_request(invite=invite)
    analysis_update(invite_id=invite.pk)
    client.force_login(reviewer)

    page = client.get(f"/reviews/invites/{invite.public_id}/runs").content.decode()
    assert 'hx-trigger="every 3s"' in page
    assert "<td>all branches together</td>" in page and "refs/portal" not in page
    assert "Scoring in progress" in page


def test_the_candidates_list_says_scored_and_why_a_run_could_not_run(client, created, tmp_path):
    invite = created.invite
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    base = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    Run.objects.filter(invite=invite).exclude(pk=base.pk).update(status=Run.Status.FAILED)
    Run.objects.filter(pk=base.pk).update(
        status=Run.Status.ERROR, reason="the app did not start within its start-up limit of 20 s:\nTraceback"
    )
    page = client.get(f"/i/{created.link_token}/runs").content.decode()
    assert "could not run: the app did not start within its start-up limit of 20 s:" in page
    assert ">scored<" in page


def test_a_long_reason_keeps_both_ends():
    reason = "the app exited with code 1 before it was ready:\n" + "noise " * 2000 + "\nValueError: the real cause"
    capped = reason_capped(reason)
    assert len(capped) == MESSAGE_CAP
    assert capped.startswith("the app exited with code 1 before it was ready:\n[…]\n")
    assert capped.endswith("ValueError: the real cause")
    assert reason_capped("short") == "short"
