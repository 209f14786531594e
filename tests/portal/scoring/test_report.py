"""The invite's result: the ticket x branch matrix, its verdicts, findings and total, and rescoring."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.hosting.services import repository_path
from portal.scoring.analysis import integration_build
from portal.scoring.models import Run
from portal.scoring.selectors import invite_result
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_all

pytestmark = [pytest.mark.engines, pytest.mark.integration, pytest.mark.timeout(300)]

PATCHES = ROOT / "assessment_app" / "reference"


@pytest.fixture(scope="module")
def scored_invite(django_db_setup, django_db_blocker, tmp_path_factory):
    """Ticket 2 fixed on issue-2; ticket 4's fix on a badly named branch; ticket 1's fix plus 2's on issue-1.

    Scored once for the module (five runs in the sandbox): the tests read it, and those that queue
    runs do so inside their own transaction (``db``), which is rolled back. Deleted at the end, with
    the assessment version it installed: later tests of this process must find the database empty.
    """
    from portal.assessments.models import Assessment, AssessmentVersion
    from portal.assessments.services import assessment_version_install

    with django_db_blocker.unblock():
        versions_before = set(AssessmentVersion.objects.values_list("pk", flat=True))
        assessments_before = set(Assessment.objects.values_list("pk", flat=True))
        version = assessment_version_install(package_dir=ROOT / "assessment_app")
        invite = make_invite(version).invite
        work = tmp_path_factory.mktemp("report") / "work"
        candidate_commit(
            invite, work, branch="issue-2", patch=PATCHES / "ticket-2.patch", message="Fix: Resolve issue #2 - 404"
        )
        candidate_commit(invite, work, branch="fix-titles", patch=PATCHES / "ticket-4.patch", message="fixed stuff")
        candidate_commit(
            invite, work, branch="issue-1", patch=PATCHES / "ticket-1.patch", message="Fix: Resolve issue #1 - x"
        )
        candidate_commit(
            invite, work, branch="issue-1", patch=PATCHES / "ticket-2.patch", message="Fix: Resolve issue #1 - and 2"
        )
        score_all(invite)
    yield invite
    with django_db_blocker.unblock():
        candidate = invite.candidate
        invite.delete()
        candidate.delete()
        AssessmentVersion.objects.exclude(pk__in=versions_before).delete()
        Assessment.objects.exclude(pk__in=assessments_before).delete()


def test_each_ticket_is_judged_on_its_own_branch(db, scored_invite):
    result = invite_result(invite=scored_invite)
    verdicts = {t.number: (t.branch, t.passed) for t in result.tickets}
    assert verdicts[2] == ("issue-2", True)
    assert verdicts[4] == (None, None)  # fixed, but on a branch not dedicated to it
    assert verdicts[1] == ("issue-1", False)  # issue-1 holds ticket 2's fix, not ticket 1's
    assert result.total == 15
    assert not result.pending


def test_a_branch_that_changes_other_tickets_is_called_out(db, scored_invite):
    result = invite_result(invite=scored_invite)
    issue_1 = next(b for b in result.branches if b.branch == "issue-1")
    assert issue_1.other_tickets_changed == (2,)
    kinds = {(f.kind, f.ref) for f in result.findings}
    assert ("scope_creep", "refs/heads/issue-1") in kinds or ("scope_creep", "issue-1") in kinds
    assert any(f.kind == "branch_naming" and "fix-titles" in f.message for f in result.findings)
    assert any(f.kind == "commit_message" for f in result.findings)


def test_the_report_command_prints_the_matrix_findings_and_score(db, scored_invite):
    out = StringIO()
    call_command("report", scored_invite.public_id, stdout=out)
    text = out.getvalue()
    assert "Score: 15/100" in text
    assert "pass on issue-2 (15/15)" in text
    assert "branch_naming" in text


def test_the_report_command_speaks_json(db, scored_invite):
    out = StringIO()
    call_command("report", scored_invite.public_id, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["score"] == {"total": 15, "possible": 100}
    assert {b["branch"] for b in data["branches"]} == {"main", "issue-1", "issue-2", "fix-titles"}
    assert data["tickets"][1]["passed"] is True


def test_an_unknown_invite_is_refused(db):
    with pytest.raises(CommandError, match="No invite 'nope'"):
        call_command("report", "nope", stdout=StringIO())


def test_rescoring_with_the_same_grader_adds_nothing(db, scored_invite):
    before = Run.objects.filter(invite=scored_invite).count()
    out = StringIO()
    call_command("rescore", "--invite", scored_invite.public_id, stdout=out)
    # main, issue-1, issue-2, fix-titles; the first issue-1 commit is no branch head any more.
    assert "0 run(s) queued, 0 run(s) retried, 4 commit(s) already scored by this grader" in out.getvalue()
    assert Run.objects.filter(invite=scored_invite).count() == before


def test_rescoring_under_a_new_grader_keeps_the_old_runs(db, scored_invite, monkeypatch):
    monkeypatch.setattr("portal.scoring.services.GRADER_VERSION", "next-grader")
    before = set(Run.objects.filter(invite=scored_invite).values_list("pk", flat=True))
    out = StringIO()
    call_command("rescore", "--assessment", "library-lending-api", stdout=out)
    assert "4 run(s) queued" in out.getvalue()
    assert set(Run.objects.filter(invite=scored_invite).values_list("pk", flat=True)) >= before
    assert Run.objects.filter(invite=scored_invite, grader_version="next-grader").count() == 4


def test_ticket_branches_merged_together_are_scored_as_one(db, scored_invite):
    result = invite_result(invite=scored_invite)
    assert result.integration.merged == ("issue-1", "issue-2")
    assert result.integration.conflicts == ()
    run = Run.objects.get(invite=scored_invite, commit=result.integration.commit)
    assert run.ref == "refs/portal/integrated" and run.finished
    assert result.integrated.head == result.integration.commit
    assert {n for n, c in result.integrated.cells.items() if c.passed} == {2}


def test_branches_that_conflict_are_left_out_of_the_integration_and_reported(assessment_version, tmp_path):
    invite = make_invite(assessment_version, name="Bo Example").invite
    work = tmp_path / "work"
    one = candidate_commit(
        invite, work, branch="issue-1", changes={"NOTES.md": "one\n"}, message="Fix: Resolve issue #1 - a"
    )
    two = candidate_commit(
        invite, work, branch="issue-2", changes={"NOTES.md": "two\n"}, message="Fix: Resolve issue #2 - b"
    )
    integration = integration_build(path=repository_path(invite), heads={"issue-1": one, "issue-2": two})
    assert integration.commit is None
    assert integration.conflicts == (("issue-2", "NOTES.md"),)
    result = score_all(invite)
    conflict = next(f for f in result.findings if f.kind == "merge_conflict")
    assert conflict.ref == "refs/heads/issue-2" and conflict.paths == ("NOTES.md",)
    assert result.integrated is None
