"""The example packages go the whole way too: a fix pushed over HTTP to the live portal is scored by a
real worker, for the package on Node.js (examples/node-notes) and for the one on PostgreSQL
(examples/loans-pg), as the built-in package is (test_push_to_score.py).

One push per package: the worker scores the starting point, then the fix. Its sandboxes run as slot
uids of this module's own, so that what is left once the runs are over is never another test's.
"""

import os
import time
from pathlib import Path

import pytest

from grader.manifest import load_manifest
from portal.assessments.services import assessment_version_install
from portal.core.scratch import PREFIX
from portal.scoring.models import InviteAnalysis, Run
from sandbox.slots import processes_of_uid
from tests.conftest import ROOT
from tests.support.factories import make_invite
from tests.support.git import GitClient, remote_url
from tests.support.workers import wait_for

# The portal and the worker run in other processes: the invite must be committed for them.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True),
]
# node, npm and PostgreSQL 15's server are test packages (Makefile TEST_OS_PACKAGES): missing, these
# tests fail, never skip.

# Per pytest-xdist worker: the default range is 64000-64031, test_pg_package.py's from 64200,
# tests/sandbox's from 64500.
_XDIST = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
UID_BASE, SLOTS = 64300 + 8 * _XDIST, 8
# A bound on each run, so that a run that hangs ends the test in minutes, not the default's four.
RUN_BUDGET = 120


@pytest.fixture(scope="module")
def worker_scratch(tmp_path_factory) -> Path:
    """The worker's TMPDIR: where its runs' scratch folders (tree, copies for the app) are made."""
    return tmp_path_factory.mktemp("worker-tmp")


@pytest.fixture(scope="module")
def scoring_worker(django_db_setup, django_db_blocker, tmp_path_factory, worker_scratch):
    """A real worker whose sandboxes run as this module's slot uids, with scratch folders of its own."""
    from django.db import connection

    from portal.core.models import WorkerHeartbeat
    from tests.support.workers import database_url, running_worker

    env = {
        "PORTAL_SANDBOX_UID_BASE": str(UID_BASE),
        "PORTAL_SANDBOX_SLOTS": str(SLOTS),
        "PORTAL_SANDBOX_STATE_DIR": f"/run/portal-sandbox-scored-tests-{_XDIST}",
        "PORTAL_RUN_BUDGET_SECONDS": str(RUN_BUDGET),
        "TMPDIR": str(worker_scratch),
    }
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with running_worker(db_url=url, log_dir=tmp_path_factory.mktemp("worker"), env=env) as worker:
        yield worker
    # Its heartbeats were written between the tests, which no test's flush removed.
    with django_db_blocker.unblock():
        WorkerHeartbeat.objects.filter(name__startswith=worker.node_prefix).delete()


def _settled(invite) -> bool:
    """Every run of the invite finished and its analysis up to date: the worker has nothing left of it
    (the test's flush then removes no row a task of the worker still reads)."""
    runs = Run.objects.filter(invite=invite)
    analysis = InviteAnalysis.objects.filter(invite=invite).first()
    return (
        runs.count() == 2
        and not runs.filter(status__in=Run.ACTIVE).exists()
        and analysis is not None
        and not analysis.pending
        and analysis.task_sent_at is None
    )


@pytest.mark.parametrize("example", ["node-notes", "loans-pg"])
def test_a_pushed_fix_of_an_example_package_is_scored_by_a_worker(
    portal_server, scoring_worker, worker_scratch, tmp_path, example
):
    package = ROOT / "examples" / example
    title = load_manifest(package).tickets[0].title
    created = make_invite(assessment_version_install(package_dir=package))
    invite = created.invite
    git = GitClient(tmp_path / "home")
    work = tmp_path / "work"
    git.run("clone", "-q", remote_url(portal_server.url, invite.public_id, invite.public_id, created.git_token), work)
    git.run("checkout", "-q", "-b", "issue-1", cwd=work)
    git.run("apply", str(package / "reference" / "ticket-1.patch"), cwd=work)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", f"Fix: Resolve issue #1 - {title}", cwd=work)
    sha = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    # Pushed without -q, so that the remote's note can be read.
    push = git.run("push", "origin", "issue-1", cwd=work)
    assert f"remote: received issue-1 at {sha[:7]}, scoring queued" in push.stderr

    wait_for(lambda: _settled(invite), timeout=400, interval=0.5, what=f"the runs\n{scoring_worker.log()[-5000:]}")
    run = Run.objects.get(invite=invite, commit=sha)
    assert run.ref == "refs/heads/issue-1"
    assert run.status == Run.Status.FAILED, run.reason  # ticket 2 is still to fix
    assert dict(run.verdicts.values_list("ticket", "passed")) == {1: True, 2: False}
    assert invite.events.filter(kind="scored", data__commit=sha).exists()
    # The runs are over: nothing of their sandboxes (the app, PostgreSQL) is left running or on disk.
    _assert_nothing_left(worker_scratch)


def _assert_nothing_left(scratch: Path) -> None:
    uids = range(UID_BASE, UID_BASE + SLOTS)
    deadline = time.monotonic() + 20  # a bound, not a measurement: a run's end kills them at once
    while any(processes_of_uid(uid) for uid in uids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {uid: processes_of_uid(uid) for uid in uids if processes_of_uid(uid)} == {}
    # The scratch folders of the runs are gone; what is left is the pool process's own folder
    # (portal/core/scratch.py) and multiprocessing's pymp-*, which live as long as the worker.
    assert _run_folders(scratch) == []


def _run_folders(scratch: Path) -> list[str]:
    """What is in the worker's temporary folder but its pool processes' folders, and pymp-* in either."""
    found = []
    for path in scratch.iterdir():
        inside = path.iterdir() if path.name.startswith(PREFIX) and path.is_dir() else [path]
        found += [entry.name for entry in inside if not entry.name.startswith("pymp-")]
    return sorted(found)
