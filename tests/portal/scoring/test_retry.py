"""Failed runs can be retried: `rescore --errors`, `--force`, and the staff buttons on the result page."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from portal.core.models import TaskAttempt
from portal.scoring.models import Run
from portal.scoring.services import invite_rescore, run_execute
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_all

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FIX_1 = ROOT / "assessment_app" / "reference" / "ticket-1.patch"


@pytest.fixture
def errored(invite, settings, tmp_path):
    """Ticket 1 fixed on issue-1, but both runs ended in an error (a file cap too small to score)."""
    settings.PORTAL_SCORING_MAX_FILES = 10
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=FIX_1)
    score_all(invite)
    assert set(Run.objects.filter(invite=invite).values_list("status", flat=True)) == {Run.Status.ERROR}
    settings.PORTAL_SCORING_MAX_FILES = 5000  # the cause is fixed: a retry should now score
    return invite, head


def _rescore(invite, *flags) -> str:
    out = StringIO()
    call_command("rescore", "--invite", invite.public_id, *flags, stdout=out)
    return out.getvalue()


def test_a_plain_rescore_leaves_error_runs_as_they_are(errored):
    invite, _head = errored
    assert "0 run(s) queued, 0 run(s) retried, 2 commit(s) already scored" in _rescore(invite)
    assert not Run.objects.filter(invite=invite).exclude(status=Run.Status.ERROR).exists()


def test_rescore_errors_queues_failed_runs_again_and_they_score(errored):
    invite, head = errored
    run = Run.objects.get(invite=invite, commit=head)
    TaskAttempt.objects.update_or_create(task="scoring.run", key=str(run.pk), defaults={"attempts": 3})
    assert "2 run(s) retried" in _rescore(invite, "--errors")
    run.refresh_from_db()
    assert (run.status, run.reason, run.finished_at) == (Run.Status.QUEUED, "", None)
    # The attempts that ended it before do not count against the retry.
    assert not TaskAttempt.objects.filter(task="scoring.run", key=str(run.pk)).exists()
    score_all(invite)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED, run.reason  # scored: ticket 1 passes, the others do not
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {1}
    # Scored now: a second --errors finds nothing to retry.
    assert "0 run(s) retried" in _rescore(invite, "--errors")


def test_rescore_force_scores_finished_runs_again(errored):
    invite, head = errored
    _rescore(invite, "--errors")
    score_all(invite)
    first = Run.objects.get(invite=invite, commit=head)
    finished = first.finished_at
    assert "2 run(s) retried" in _rescore(invite, "--force")
    first.refresh_from_db()
    # Nothing is destroyed before the new play: the results stay until it replaces them.
    results = set(first.results.values_list("pk", flat=True))
    assert first.status == Run.Status.QUEUED and first.verdicts.exists() and results
    score_all(invite)
    first.refresh_from_db()
    assert first.status == Run.Status.FAILED and first.finished_at > finished
    assert not results & set(first.results.values_list("pk", flat=True))  # replaced, not added to
    assert first.verdicts.count() == 6
    assert Run.objects.filter(invite=invite, commit=head).count() == 1  # the same run, scored again


def test_errors_and_force_together_are_refused(invite):
    with pytest.raises(CommandError, match="not allowed with argument"):
        _rescore(invite, "--errors", "--force")


def test_an_unknown_retry_choice_is_refused_by_the_service(invite):
    with pytest.raises(ValueError, match="retry must be one of"):
        invite_rescore(invite=invite, retry="everything")


def test_a_running_run_is_never_queued_twice(errored):
    invite, head = errored
    Run.objects.filter(invite=invite, commit=head).update(status=Run.Status.RUNNING)
    assert "1 run(s) retried" in _rescore(invite, "--force")
    assert Run.objects.get(invite=invite, commit=head).status == Run.Status.RUNNING


def test_staff_retry_failed_runs_from_the_result_page(client, errored, admin_user, reviewer):
    invite, head = errored
    url = reverse("invite_rescore", args=[invite.public_id])
    client.force_login(reviewer)
    assert client.post(url, {"retry": "errors"}).status_code == 403  # reviewers without staff rights
    client.force_login(admin_user)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    assert 'name="retry" value="errors"' in page
    response = client.post(url, {"retry": "errors"}, follow=True)
    assert "2 run(s) retried" in response.content.decode()
    assert Run.objects.get(invite=invite, commit=head).status == Run.Status.QUEUED


def test_a_forged_retry_choice_queues_nothing(client, errored, admin_user):
    invite, _head = errored
    client.force_login(admin_user)
    response = client.post(reverse("invite_rescore", args=[invite.public_id]), {"retry": "<b>all</b>"}, follow=True)
    body = response.content.decode()
    assert "Unknown rescore choice" in body and "<b>all</b>" not in body
    assert set(Run.objects.filter(invite=invite).values_list("status", flat=True)) == {Run.Status.ERROR}


def test_a_worker_of_another_release_ends_the_run_in_an_error_that_says_so(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=FIX_1)
    run = Run.objects.get(invite=invite, commit=head)
    Run.objects.filter(pk=run.pk).update(grader_version="a-newer-grader")
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.ERROR
    assert "the run needs grader a-newer-grader: upgrade the worker" in run.reason
    assert not run.verdicts.exists()
