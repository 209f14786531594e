"""Scoring is fair between candidates: what a push asks for is bounded, and stale work is dropped on the record.

A candidate who pushes often, or pushes many branches at once, must delay nobody else by more than
their runs in flight (PORTAL_RUNS_IN_FLIGHT_PER_INVITE), and a run nobody needs any more (its
branch moved on before a worker took it) is marked superseded, never silently lost.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

import gitplumbing
from portal.hosting.services import repository_path
from portal.scoring.analysis import analysis_update
from portal.scoring.models import InviteAnalysis, Run
from portal.scoring.services import ANALYSIS_TASK_LOST_AFTER, analysis_request, run_execute, runs_dispatch
from portal.scoring.version import GRADER_VERSION
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, push_branches, record_push, score_all
from tests.support.workers import wait_for

pytestmark = pytest.mark.engines

ZERO = gitplumbing.ZERO_SHA


def _run(invite, commit) -> Run:
    return Run.objects.get(invite=invite, commit=commit)


def _dispatched(invite) -> set[str]:
    return set(
        Run.objects.filter(invite=invite, status__in=Run.ACTIVE, dispatched_at__isnull=False).values_list(
            "commit", flat=True
        )
    )


def _finish_fast(run: Run) -> Run:
    """End ``run`` through the worker's own path without the sandbox: a worker of another release
    refuses it with an error (run_execute), which frees its place like any finished run. The run
    then gets its grader version back, so later pushes find it as the one run of its commit."""
    Run.objects.filter(pk=run.pk).update(grader_version="0-other-release")
    run = run_execute(run_id=run.pk)
    Run.objects.filter(pk=run.pk).update(grader_version=GRADER_VERSION)
    return run


# --- Superseded runs ---------------------------------------------------------------------------


def test_a_newer_push_to_a_branch_supersedes_its_waiting_run_on_the_record(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    second = candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")

    old = _run(invite, first)
    assert old.status == Run.Status.SUPERSEDED
    assert old.reason == "the branch moved on before a worker took this run; its new head is scored instead"
    assert old.finished_at is not None and old.started_at is None
    assert _run(invite, second).status == Run.Status.QUEUED
    # A worker that still receives the superseded run's task leaves it alone.
    assert run_execute(run_id=old.pk).status == Run.Status.SUPERSEDED


def test_a_run_a_worker_has_taken_is_left_to_finish(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    Run.objects.filter(invite=invite, commit=first).update(status=Run.Status.RUNNING)
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    assert _run(invite, first).status == Run.Status.RUNNING


def test_a_deleted_branch_supersedes_its_waiting_run(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="topic")
    gitplumbing.update_refs(repository_path(invite), "delete refs/heads/topic\n")
    record_push(invite, [(head, ZERO, "refs/heads/topic")])
    assert _run(invite, head).status == Run.Status.SUPERSEDED


def test_a_commit_another_branch_still_points_at_is_not_superseded(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    gitplumbing.update_refs(repository_path(invite), f"create refs/heads/issue-2 {head}\n")
    record_push(invite, [(ZERO, head, "refs/heads/issue-2")])
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    assert _run(invite, head).status == Run.Status.QUEUED


def test_a_branch_moved_by_other_means_than_a_push_supersedes_its_waiting_run_at_the_next_push(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    base = invite.repository.base_commit
    gitplumbing.update_refs(repository_path(invite), f"update refs/heads/issue-1 {base} {head}\n")
    candidate_commit(invite, tmp_path / "work", branch="issue-2", message="Fix: Resolve issue #2 - other")
    assert _run(invite, head).status == Run.Status.SUPERSEDED


def test_a_waiting_run_of_a_branch_whose_ref_is_packed_is_kept(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    # Packed refs have no loose file: the branch heads are then asked of git.
    gitplumbing.run("pack-refs", "--all", git_dir=repository_path(invite))
    assert not (repository_path(invite) / "refs" / "heads" / "issue-1").exists()
    candidate_commit(invite, tmp_path / "work", branch="issue-2", message="Fix: Resolve issue #2 - other")
    assert _run(invite, head).status == Run.Status.QUEUED


def test_a_branch_moved_back_to_a_superseded_commit_queues_it_again(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    second = candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    gitplumbing.update_refs(repository_path(invite), f"update refs/heads/issue-1 {first} {second}\n")
    record_push(invite, [(second, first, "refs/heads/issue-1")])

    again = _run(invite, first)
    assert (again.status, again.reason, again.finished_at) == (Run.Status.QUEUED, "", None)
    assert _run(invite, second).status == Run.Status.SUPERSEDED
    assert Run.objects.filter(invite=invite, commit=first).count() == 1


def test_one_commit_pushed_to_many_branches_is_scored_once(invite):
    path = repository_path(invite)
    base = invite.repository.base_commit
    tree = gitplumbing.text("rev-parse", f"{base}^{{tree}}", git_dir=path)
    env = gitplumbing.identity_env("Ann Example", "ann@example.com", date="1700000000 +0000")
    commit = gitplumbing.text(
        "commit-tree", tree, "-p", base, "-m", "Fix: Resolve issue #1 - try", git_dir=path, env=env
    )
    names = [f"issue-{n}" for n in range(1, 6)]
    gitplumbing.update_refs(path, "".join(f"create refs/heads/{name} {commit}\n" for name in names))
    record_push(invite, [(ZERO, commit, f"refs/heads/{name}") for name in names])

    assert list(Run.objects.filter(invite=invite).order_by("pk").values_list("commit", flat=True)) == [base, commit]


# --- Runs in flight per invite -----------------------------------------------------------------


def test_only_the_invites_runs_in_flight_are_handed_to_the_workers(invite):
    heads = push_branches(invite, 6)
    runs = Run.objects.filter(invite=invite)
    assert runs.count() == 7  # the starting point and six branches, all on the record
    # The starting point first: every branch is measured against it.
    assert _dispatched(invite) == {invite.repository.base_commit}

    # Each finished run hands its place to the next waiting one, oldest first.
    _finish_fast(_run(invite, invite.repository.base_commit))
    assert _dispatched(invite) == {heads["issue-1"]}
    _finish_fast(_run(invite, heads["issue-1"]))
    assert _dispatched(invite) == {heads["issue-2"]}


def test_the_cap_on_runs_in_flight_is_configurable(invite, settings):
    settings.PORTAL_RUNS_IN_FLIGHT_PER_INVITE = 3
    heads = push_branches(invite, 6)
    assert _dispatched(invite) == {invite.repository.base_commit, heads["issue-1"], heads["issue-2"]}
    assert runs_dispatch(invite=invite) == 0  # full: asking again hands out nothing


def test_a_superseded_run_frees_its_place_at_once(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    _finish_fast(_run(invite, invite.repository.base_commit))
    assert _dispatched(invite) == {first}
    second = candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    assert _dispatched(invite) == {second}


def test_another_invites_runs_are_dispatched_whatever_this_one_has_waiting(assessment_version):
    flooding = make_invite(assessment_version, name="Flo Oder").invite
    push_branches(flooding, 20)
    honest = make_invite(assessment_version, name="Ann Example").invite
    head = push_branches(honest, 1)["issue-1"]
    assert _dispatched(honest) == {honest.repository.base_commit}
    _finish_fast(_run(honest, honest.repository.base_commit))
    assert _dispatched(honest) == {head}
    assert len(_dispatched(flooding)) == 1


@pytest.mark.integration
@pytest.mark.timeout(500)
@pytest.mark.django_db(transaction=True)
def test_a_flood_of_branches_delays_another_candidate_by_at_most_a_run_per_worker(assessment_version, celery_worker):
    """20 branches pushed by one candidate, then one by another: with a real worker (concurrency 2),
    the second candidate's branch is scored after at most a few of the first one's runs, not after all 21."""
    flooding = make_invite(assessment_version, name="Flo Oder").invite
    push_branches(flooding, 20)
    honest = make_invite(assessment_version, name="Ann Example").invite
    head = push_branches(honest, 1)["issue-1"]

    wait_for(
        lambda: Run.objects.filter(invite=honest, commit=head, status__in=Run.FINISHED).exists(),
        timeout=400,
        interval=0.5,
        what="the honest candidate's run",
    )
    done = Run.objects.filter(invite=flooding, status__in=Run.FINISHED).count()
    # Without the cap all 21 of the flood's runs were queued ahead of the honest ones.
    assert done <= 4, f"{done} of the flooding candidate's runs were scored first"
    assert Run.objects.filter(invite=flooding, status=Run.Status.QUEUED, dispatched_at__isnull=True).exists()


def test_integrated_runs_of_an_older_integration_are_superseded(invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    candidate_commit(invite, tmp_path / "work-2", branch="issue-2", message="Fix: Resolve issue #2 - change")
    analysis_request(invite=invite)  # as a finished run would
    analysis_update(invite_id=invite.pk)
    older = Run.objects.get(invite=invite, ref="refs/portal/integrated")
    assert older.status == Run.Status.QUEUED
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    analysis_request(invite=invite)
    analysis_update(invite_id=invite.pk)

    older.refresh_from_db()
    assert older.status == Run.Status.SUPERSEDED
    assert "the new integration is scored instead" in older.reason
    newer = Run.objects.filter(invite=invite, ref="refs/portal/integrated").exclude(pk=older.pk).get()
    assert newer.status == Run.Status.QUEUED and newer.grader_version == GRADER_VERSION


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_superseded_runs_stay_out_of_the_result(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    second = candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    result = score_all(invite)
    assert {branch.branch: branch.head for branch in result.branches}["issue-1"] == second
    assert _run(invite, first).status == Run.Status.SUPERSEDED
    assert not result.runs_pending


def test_the_runs_list_says_a_superseded_run_was_skipped(client, created, tmp_path):
    invite = created.invite
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - again")
    page = client.get(f"/i/{created.link_token}/runs")
    assert page.status_code == 200
    assert "skipped: a newer push replaced it" in page.content.decode()


# --- Analyses: one waiting per invite, one per run rather than per push -------------------------


def _requested(invite) -> int:
    analysis = InviteAnalysis.objects.filter(invite=invite).first()
    return analysis.requested if analysis else 0


def test_a_push_that_queues_runs_leaves_the_analysis_to_them(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1")
    assert _requested(invite) == 0  # twenty pushes a second ask for nothing yet
    _finish_fast(_run(invite, invite.repository.base_commit))
    assert _requested(invite) == 1  # each finished run asks, after the push is committed
    _finish_fast(_run(invite, head))
    assert _requested(invite) == 2


def test_a_push_that_queues_nothing_asks_for_the_analysis_itself(invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="topic")
    gitplumbing.update_refs(repository_path(invite), "delete refs/heads/topic\n")
    record_push(invite, [(head, ZERO, "refs/heads/topic")])
    assert _requested(invite) == 1


def test_requests_send_one_task_while_one_is_waiting(invite, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        for _ in range(5):
            analysis_request(invite=invite)
    assert (_requested(invite), len(sent)) == (5, 1)

    # Once the task has started, the next request sends another: it sees what the first missed.
    analysis_update(invite_id=invite.pk)
    with django_capture_on_commit_callbacks() as sent:
        analysis_request(invite=invite)
        analysis_request(invite=invite)
    assert len(sent) == 1


def test_a_task_lost_on_its_way_is_sent_again_after_a_while(invite, django_capture_on_commit_callbacks):
    analysis_request(invite=invite)
    InviteAnalysis.objects.filter(invite=invite).update(
        task_sent_at=timezone.now() - ANALYSIS_TASK_LOST_AFTER - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks() as sent:
        analysis_request(invite=invite)
    assert len(sent) == 1
