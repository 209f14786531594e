"""A push over HTTP is scored by a real worker: the whole path, end to end."""

import pytest

from portal.scoring.analysis import INTEGRATED_REF
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import push_reference_fix
from tests.support.git import GitClient, remote_url
from tests.support.workers import wait_for

# The portal and the worker run in other processes: the invite must be committed for them.
pytestmark = [
    pytest.mark.engines,
    pytest.mark.integration,
    pytest.mark.timeout(240),
    pytest.mark.django_db(transaction=True),
]


def test_a_pushed_fix_is_scored_by_a_worker_for_its_ticket_only(portal_server, celery_worker, created, tmp_path):
    git = GitClient(tmp_path / "home")
    url = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)
    work = tmp_path / "work"
    git.run("clone", "-q", url, str(work))
    git.run("checkout", "-q", "-b", "issue-2", cwd=work)
    git.run("apply", str(ROOT / "assessment_app" / "reference" / "ticket-2.patch"), cwd=work)
    git.run("commit", "-q", "-am", "Fix: Resolve issue #2 - answer 404 for a removed book", cwd=work)
    sha = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    # Pushed without -q, so that the remote's note can be read.
    push = git.run("push", "origin", "issue-2", cwd=work)
    assert f"remote: received issue-2 at {sha[:7]}, scoring queued" in push.stderr

    def finished():
        run = Run.objects.filter(invite=created.invite, commit=sha).first()
        return run if run and run.finished else None

    run = wait_for(finished, timeout=180, interval=0.5, what="the run of the pushed commit")
    assert run.ref == "refs/heads/issue-2"
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {2}
    assert "Task scoring.run" in celery_worker.log()
    assert created.invite.events.filter(kind="scored", data__commit=sha).exists()


def test_two_pushed_ticket_branches_are_also_scored_merged_together(portal_server, celery_worker, created, tmp_path):
    for number in (2, 4):
        push_reference_fix(portal_server.url, created, number, tmp_path / "work")

    def integrated():
        run = Run.objects.filter(invite=created.invite, ref=INTEGRATED_REF).first()
        return run if run and run.finished else None

    run = wait_for(integrated, timeout=180, interval=0.5, what="the integrated run")
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {2, 4}
    assert "Task analysis.invite" in celery_worker.log()  # the analysis queued the integrated run
