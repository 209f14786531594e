"""The verdict first: the hidden tests run with nothing of the candidate's beside them and the verdict is
recorded as soon as they end; the candidate's own (visible) tests run after it, on the same tree, and
are recorded into ``run.visible`` (pending until then). Visible results are never played twice for the
same tree on the same assessment version, and a worker that dies between the verdict and them leaves
nothing stuck: the sweep has them run again, a bounded number of times.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from portal.core.models import TaskAttempt, WorkerHeartbeat
from portal.invites.models import Event
from portal.scoring.models import VISIBLE_DONE, VISIBLE_FAILED, VISIBLE_PENDING, Run, TestResult, visible_state
from portal.scoring.selectors import invite_pending
from portal.scoring.services import (
    TASK_VISIBLE,
    VISIBLE_ATTEMPTS,
    _visible_found,
    _visible_own,
    run_requeue,
    runs_sweep,
    runs_visible_stuck,
    visible_execute,
)
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit
from tests.support.processes import kill_session
from tests.support.workers import database_url, running_worker, wait_for

PATCHES = ROOT / "assessment_app" / "reference"
# A candidate's own test that takes its time: the window between the verdict and the visible results.
SLOW_TEST = "import time\n\n\ndef test_takes_its_time():\n    time.sleep({seconds})\n"


def _summary(version_id: int, tree: str, **fields) -> dict:
    return {
        "state": VISIBLE_DONE,
        "returncode": 1,
        "passed": 17,
        "total": 18,
        "failed": ["tests/test_books.py::test_pages_do_not_overlap"],
        "output": "1 failed, 17 passed",
        "version": version_id,
        "tree": tree,
        **fields,
    }


def _finished(invite, *, ref: str, visible: dict, status=Run.Status.FAILED, commit: str = "a" * 40) -> Run:
    run = Run.objects.create(
        invite=invite,
        assessment_version=invite.assessment_version,
        commit=commit,
        ref=ref,
        grader_version="test",
        status=status,
        queued_at=timezone.now(),
        started_at=timezone.now(),
        finished_at=timezone.now(),
        visible=visible,
        worker="test-dead@host",
        attempt=1,
    )
    return run


# Which stored results are reused (rows only)


def test_a_summary_of_the_same_tree_and_version_is_reused_and_says_from_which_run(invite):
    version = invite.assessment_version_id
    first = _finished(invite, ref="refs/heads/issue-1", visible=_summary(version, "t" * 40))
    again = _finished(invite, ref="refs/heads/issue-2", visible={}, commit="b" * 40)
    found = _visible_found(again, tree="t" * 40)
    assert found["reused_from"] == first.pk and found["passed"] == 17
    # Reused again from the reused copy: still the run whose play gave them.
    third = _finished(invite, ref="refs/heads/issue-3", visible={}, commit="c" * 40)
    Run.objects.filter(pk=first.pk).update(visible={})
    Run.objects.filter(pk=again.pk).update(visible=found)
    assert _visible_found(third, tree="t" * 40)["reused_from"] == first.pk


def test_a_summary_of_another_tree_or_version_or_cut_by_a_signal_is_not_reused(invite, assessment_version):
    version = invite.assessment_version_id
    _finished(invite, ref="refs/heads/issue-1", visible=_summary(version, "t" * 40))
    _finished(invite, ref="refs/heads/issue-2", visible=_summary(version + 1000, "u" * 40), commit="b" * 40)
    _finished(invite, ref="refs/heads/issue-3", visible=_summary(version, "v" * 40, returncode=137), commit="c" * 40)
    _finished(invite, ref="refs/heads/issue-4", visible={"state": VISIBLE_PENDING, "worker": ""}, commit="d" * 40)
    asking = _finished(invite, ref="refs/heads/issue-5", visible={}, commit="e" * 40)
    assert _visible_found(asking, tree="u" * 40) is None  # another assessment version's
    assert _visible_found(asking, tree="v" * 40) is None  # killed: maybe the host's load, not the code
    assert _visible_found(asking, tree="w" * 40) is None  # no run has this tree's
    # Its own, from an earlier play: only on the same version.
    own = _finished(invite, ref="refs/heads/issue-6", visible=_summary(version, "x" * 40), commit="f" * 40)
    assert _visible_own(own)["reused_from"] == own.pk
    own.visible = _summary(version + 1000, "x" * 40)
    assert _visible_own(own) is None


# Pending visible results: pages, the sweep, the attempts bound (rows only)


def test_pending_visible_results_keep_the_invite_pending_and_the_candidates_page_polling(client, created):
    invite = created.invite
    run = _finished(invite, ref="refs/heads/issue-1", visible={"state": VISIBLE_PENDING, "worker": "w@h"})
    Run.objects.filter(invite=invite).exclude(pk=run.pk).delete()
    assert invite_pending(invite=invite)
    response = client.get(reverse("invite_runs", args=[created.link_token]))
    html = response.content.decode()
    row = html[html.index('<code class="branch">issue-1</code>') :]
    assert 'hx-trigger="every 5s"' in html  # keeps asking
    assert '<span aria-busy="true">running</span>' in row[: row.index("</tr>")]
    first_state = html.split("?state=", 1)[1].split('"', 1)[0]
    assert client.get(reverse("invite_runs", args=[created.link_token]), {"state": first_state}).status_code == 204

    Run.objects.filter(pk=run.pk).update(visible={"state": VISIBLE_FAILED, "reason": "no sandbox"})
    assert not invite_pending(invite=invite)
    response = client.get(reverse("invite_runs", args=[created.link_token]), {"state": first_state})
    assert response.status_code == 200  # a new state: redrawn
    assert "your tests could not be run" in response.content.decode()


def test_the_sweep_sends_pending_visible_results_of_a_silent_worker_once_then_again_if_lost(
    invite, settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name="test-dead@host", hostname="host", pid=1, queues=["scoring"], concurrency=1,
        started_at=now - timedelta(hours=1), seen_at=now - timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER + 5),
    )  # fmt: skip
    WorkerHeartbeat.objects.create(
        name="test-alive@host", hostname="host", pid=2, queues=["scoring"], concurrency=1,
        started_at=now - timedelta(hours=1), seen_at=now,
    )  # fmt: skip
    since = (now - timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER + 5)).isoformat()
    dead = _finished(
        invite, ref="refs/heads/issue-1", visible={"state": VISIBLE_PENDING, "worker": "test-dead@host", "since": since}
    )
    alive = _finished(
        invite, ref="refs/heads/issue-2", commit="b" * 40,
        visible={"state": VISIBLE_PENDING, "worker": "test-alive@host", "since": since},
    )  # fmt: skip
    Run.objects.filter(pk__in=[dead.pk, alive.pk]).update(finished_at=now - timedelta(minutes=5))
    assert [run.pk for run in runs_visible_stuck()] == [dead.pk]

    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert runs_sweep().visible == 1
    assert len(sent) == 1
    dead.refresh_from_db()
    assert dead.visible["state"] == VISIBLE_PENDING and dead.visible["worker"] == ""  # sent to any worker
    assert runs_sweep().visible == 0  # sent once: not again while the task may still be on its way
    # Never taken (a broker that lost it): sent again after PORTAL_RUN_RESEND_AFTER.
    later = timezone.now() + timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER + 1)
    WorkerHeartbeat.objects.filter(name="test-alive@host").update(seen_at=later)  # still beating then
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert runs_sweep(now=later).visible == 1
    assert len(sent) == 1


def test_visible_tests_that_stopped_the_worker_too_often_say_they_could_not_be_run(invite):
    run = _finished(invite, ref="refs/heads/issue-1", visible={"state": VISIBLE_PENDING, "worker": ""})
    TaskAttempt.objects.create(task=TASK_VISIBLE, key=f"{run.pk}:{run.attempt}", attempts=VISIBLE_ATTEMPTS)
    run = visible_execute(run_id=run.pk, attempt=run.attempt, worker="test-rescuer@host")
    assert run.visible == {
        "state": VISIBLE_FAILED,
        "reason": f"the visible tests stopped the worker {VISIBLE_ATTEMPTS} times",
    }
    assert run.status == Run.Status.FAILED  # the verdict stands
    assert not TaskAttempt.objects.filter(task=TASK_VISIBLE).exists()
    # A task of another attempt of the run (it was played again since) changes nothing.
    Run.objects.filter(pk=run.pk).update(visible={"state": VISIBLE_PENDING, "worker": ""}, attempt=2)
    assert visible_execute(run_id=run.pk, attempt=1).visible["state"] == VISIBLE_PENDING


# Real plays in the sandbox


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_every_phase_is_timed_and_a_rescore_reuses_the_visible_results(invite, tmp_path):
    sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=PATCHES / "ticket-1.patch")
    run = score_commit(invite, sha)
    assert run.verdicts.get(ticket=1).passed, run.reason
    assert visible_state(run.visible) == VISIBLE_DONE and run.visible["total"] > 0
    assert "reused_from" not in run.visible
    phases = {"export", "runtime", "build", "app_start", "hidden", "teardown", "total", "record", "visible"}
    assert phases <= set(run.timings), run.timings
    # The verdict's own time: its phases fit in it; the visible tests come after it.
    verdict = sum(run.timings[name] for name in ("export", "runtime", "build", "app_start", "hidden", "teardown"))
    assert verdict <= run.timings["total"]
    assert run.visible["tree"] and run.visible["version"] == invite.assessment_version_id
    # What the run's parts used: the app's sandbox, the trusted grader's pytest, the visible tests' sandbox.
    assert run.sandbox["cpu_time"] > 0 and run.sandbox["grader_cpu_time"] > 0 and run.visible["cpu_time"] > 0

    # Played again (rescore --force): the hidden tests run again, the visible results are reused.
    assert run_requeue(run=run)
    run = score_commit(invite, sha)
    assert run.verdicts.get(ticket=1).passed
    assert run.visible["reused_from"] == run.pk
    assert "cpu_time" not in run.visible  # reused, they cost this play nothing
    assert "visible" not in run.timings and "record" in run.timings

    # The same tree pushed again as another commit (the same fix on another branch): reused from the first.
    same_tree = candidate_commit(
        invite, tmp_path / "work", branch="issue-9", patch=PATCHES / "ticket-1.patch", message="Fix: again"
    )
    assert same_tree != sha
    other = score_commit(invite, same_tree)
    assert other.verdicts.get(ticket=1).passed
    assert other.visible["reused_from"] == run.pk and other.visible["tree"] == run.visible["tree"]
    assert "visible" not in other.timings
    assert Event.objects.filter(invite=invite, kind=Event.Kind.SCORED, data__run=other.pk).count() == 1


# A live worker, killed between the verdict and the visible results

_XDIST = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
# Slot uids of this module's own (the default range is 64000-64031, test_pg_package.py's from 64200,
# test_example_packages_scored.py's from 64300, test_service_faults.py's from 64400, tests/sandbox's from 64500).
UID_BASE, SLOTS = 64100 + 8 * _XDIST, 8
FAST = {
    "PORTAL_SWEEP_SECONDS": "2",
    "PORTAL_RUN_RESEND_AFTER": "5",
    "PORTAL_WORKER_DEAD_AFTER": "6",
    "PORTAL_HEARTBEAT_SECONDS": "1",
    "PORTAL_SANDBOX_UID_BASE": str(UID_BASE),
    "PORTAL_SANDBOX_SLOTS": str(SLOTS),
    "PORTAL_SANDBOX_STATE_DIR": f"/run/portal-sandbox-visible-tests-{_XDIST}",
}


def _worker_env(scratch: Path) -> dict[str, str]:
    scratch.mkdir(exist_ok=True)
    return {**FAST, "TMPDIR": str(scratch)}


def _verdict_then_pending(run_id: int):
    run = Run.objects.filter(pk=run_id).first()
    return run if run is not None and run.finished and visible_state(run.visible) == VISIBLE_PENDING else None


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_the_verdict_has_the_visible_tests_run_by_another(
    assessment_version, tmp_path, client, settings
):
    created = make_invite(assessment_version)
    invite = created.invite
    url = database_url(connection.settings_dict)
    env = _worker_env(tmp_path / "worker-tmp")
    with running_worker(db_url=url, log_dir=tmp_path, env=env, queues="default,scoring") as doomed:
        sha = candidate_commit(
            invite,
            tmp_path / "work",
            branch="issue-1",
            patch=PATCHES / "ticket-1.patch",
            changes={"tests/test_slow.py": SLOW_TEST.format(seconds=20)},
        )
        run = Run.objects.get(invite=invite, commit=sha)
        # The verdict is recorded while the candidate's own tests still run (20 s of them).
        pending = wait_for(
            lambda: _verdict_then_pending(run.pk), timeout=240, interval=0.1, what=f"the verdict\n{doomed.log()}"
        )
        assert pending.verdicts.get(ticket=1).passed, pending.reason
        assert Event.objects.filter(invite=invite, kind=Event.Kind.SCORED, data__run=run.pk).count() == 1
        assert invite_pending(invite=invite)
        html = client.get(reverse("invite_runs", args=[created.link_token])).content.decode()
        row = html[html.index('<code class="branch">issue-1</code>') :]
        assert '<span aria-busy="true">running</span>' in row[: row.index("</tr>")]
        results = sorted(TestResult.objects.filter(run=run).values_list("pk", flat=True))
        kill_session(doomed.process.pid)
        doomed.process.wait(timeout=10)
    assert visible_state(Run.objects.get(pk=run.pk).visible) == VISIBLE_PENDING  # as the dead worker left it

    # The sweep beat sends (called here: the embedded beat cannot send on the SQLite broker), as soon as
    # the dead worker's heartbeat is PORTAL_WORKER_DEAD_AFTER old: once, whatever the number of sweeps.
    settings.PORTAL_WORKER_DEAD_AFTER = int(FAST["PORTAL_WORKER_DEAD_AFTER"])
    with running_worker(db_url=url, log_dir=tmp_path, env=env) as rescuer:
        swept = wait_for(lambda: runs_sweep().visible, timeout=60, interval=0.5, what="the sweep to send them")
        assert swept == 1
        done = wait_for(
            lambda: visible_state(Run.objects.get(pk=run.pk).visible) in (VISIBLE_DONE, VISIBLE_FAILED),
            timeout=240,
            interval=0.5,
            what=f"the visible results\n{rescuer.log()}",
        )
        assert done is True
        assert runs_sweep().visible == 0  # nothing left pending, nothing sent twice
    run.refresh_from_db()
    assert run.visible["state"] == VISIBLE_DONE, run.visible
    assert run.visible["total"] > 0 and "tests/test_slow.py::test_takes_its_time" not in run.visible["failed"]
    assert "reused_from" not in run.visible
    # The verdict was recorded once and not touched: the same results, one "scored" event, same attempt.
    assert run.status == pending.status and run.attempt == pending.attempt
    assert sorted(TestResult.objects.filter(run=run).values_list("pk", flat=True)) == results
    assert Event.objects.filter(invite=invite, kind=Event.Kind.SCORED, data__run=run.pk).count() == 1
    assert "visible" in run.timings
