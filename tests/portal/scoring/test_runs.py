"""Runs are at-least-once safe: duplicates add nothing, dead workers are bounded, stuck runs are reaped."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.core.models import TaskAttempt
from portal.invites.services import candidate_get_or_create, invite_create
from portal.scoring.models import Run, TestResult
from portal.scoring.services import GRADER_VERSION, MAX_ATTEMPTS, run_execute, run_queue, runs_reap


@pytest.fixture
def invite(assessment_version):
    candidate = candidate_get_or_create(name="Ann Example", email="ann@example.com")
    return invite_create(candidate=candidate, assessment_version=assessment_version).invite


def test_creating_an_invite_queues_a_run_of_its_starting_point(invite):
    [run] = Run.objects.filter(invite=invite)
    assert (run.ref, run.status, run.grader_version) == ("refs/heads/main", Run.Status.QUEUED, GRADER_VERSION)


def test_queueing_the_same_commit_again_adds_nothing(invite):
    run = Run.objects.get(invite=invite)
    again, created = run_queue(invite=invite, commit=run.commit, ref="refs/heads/issue-1")
    assert (again, created) == (run, False)
    assert Run.objects.filter(invite=invite).count() == 1


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_redelivered_task_for_a_finished_run_changes_nothing(invite):
    run = run_execute(run_id=Run.objects.get(invite=invite).pk)
    results = list(TestResult.objects.filter(run=run).values_list("pk", flat=True))
    finished_at = run.finished_at
    again = run_execute(run_id=run.pk)
    assert again.finished_at == finished_at
    assert list(TestResult.objects.filter(run=run).values_list("pk", flat=True)) == results


def test_a_run_whose_worker_died_too_often_is_an_error_with_its_reason(invite):
    run = Run.objects.get(invite=invite)
    TaskAttempt.objects.create(task="scoring.run", key=str(run.pk), attempts=MAX_ATTEMPTS)
    run = run_execute(run_id=run.pk)
    assert run.status == Run.Status.ERROR
    assert run.reason == f"scoring stopped the worker {MAX_ATTEMPTS} times"


def test_runs_stuck_in_running_past_the_time_limit_are_requeued(invite, settings):
    run = Run.objects.get(invite=invite)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 61)
    )
    fresh = run_queue(invite=invite, commit="f" * 40, ref="refs/heads/x")[0]
    Run.objects.filter(pk=fresh.pk).update(status=Run.Status.RUNNING, started_at=timezone.now())
    assert runs_reap() == 1
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED
    assert Run.objects.get(pk=fresh.pk).status == Run.Status.RUNNING
