"""Runs are at-least-once safe: duplicates add nothing, dead workers are bounded, stuck runs are reaped."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.core.models import TaskAttempt
from portal.scoring.models import Run, TestResult
from portal.scoring.services import MAX_ATTEMPTS, run_execute, run_queue, runs_sweep
from portal.scoring.version import GRADER_VERSION
from tests.support.candidates import candidate_commit

pytestmark = pytest.mark.engines


@pytest.fixture
def starting_point(invite, tmp_path) -> Run:
    """The run of the invite's starting point, queued by the candidate's first push (to issue-1)."""
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    return Run.objects.get(invite=invite, commit=invite.repository.base_commit)


def test_the_first_push_queues_a_run_of_the_starting_point_and_later_pushes_do_not(invite, tmp_path):
    assert not Run.objects.filter(invite=invite).exists()  # creating the invite queues nothing
    base = invite.repository.base_commit
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    runs = {run.commit: (run.ref, run.status, run.grader_version) for run in Run.objects.filter(invite=invite)}
    assert runs == {
        base: ("refs/heads/main", Run.Status.QUEUED, GRADER_VERSION),
        first: ("refs/heads/issue-1", Run.Status.QUEUED, GRADER_VERSION),
    }
    second = candidate_commit(invite, tmp_path / "work", branch="issue-2", message="Fix: Resolve issue #2 - change")
    assert Run.objects.filter(invite=invite, commit=base).count() == 1
    assert set(Run.objects.filter(invite=invite).values_list("commit", flat=True)) == {base, first, second}


def test_queueing_the_same_commit_again_adds_nothing(invite, starting_point):
    count = Run.objects.filter(invite=invite).count()
    again, created = run_queue(invite=invite, commit=starting_point.commit, ref="refs/heads/issue-1")
    assert (again, created) == (starting_point, False)
    assert Run.objects.filter(invite=invite).count() == count


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_redelivered_task_for_a_finished_run_changes_nothing(starting_point):
    run = run_execute(run_id=starting_point.pk)
    results = list(TestResult.objects.filter(run=run).values_list("pk", flat=True))
    finished_at = run.finished_at
    again = run_execute(run_id=run.pk)
    assert again.finished_at == finished_at
    assert list(TestResult.objects.filter(run=run).values_list("pk", flat=True)) == results


def test_a_run_whose_worker_died_too_often_is_an_error_with_its_reason(starting_point):
    run = starting_point
    TaskAttempt.objects.create(task="scoring.run", key=str(run.pk), attempts=MAX_ATTEMPTS)
    run = run_execute(run_id=run.pk)
    assert run.status == Run.Status.ERROR
    assert run.reason == f"scoring stopped the worker {MAX_ATTEMPTS} times"


def test_runs_stuck_in_running_past_the_time_limit_are_requeued(invite, starting_point, settings):
    run = starting_point
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 61)
    )
    fresh = Run.objects.get(invite=invite, ref="refs/heads/issue-1")  # queued by the same push
    Run.objects.filter(pk=fresh.pk).update(status=Run.Status.RUNNING, started_at=timezone.now())
    assert runs_sweep().overdue == 1
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED
    assert Run.objects.get(pk=fresh.pk).status == Run.Status.RUNNING
