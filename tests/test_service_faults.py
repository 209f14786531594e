"""A run's services leave nothing behind however the run ends: a worker SIGKILLed while the run's
PostgreSQL is up takes the server with it (no process of the run's slot uids, no file of the server
in the worker's scratch folders), and a fresh worker scores the run again; a run cut by its budget
while a hostile app keeps a connection open from a detached process leaves nothing either.

The normal end is proven by tests/portal/assessments/test_pg_package.py, whose fixture checks the
same after every validation and scored run. These tests run examples/loans-pg for real, with real
workers where a worker is killed; the commits go straight into the invite's repository
(tests.support.candidates), no web server is needed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from portal.assessments.services import assessment_version_install
from portal.invites.models import Event
from portal.scoring.models import Run
from portal.scoring.services import runs_sweep
from sandbox.slots import processes_of_uid
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit
from tests.support.workers import database_url, running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
# PostgreSQL 15's server is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.

EXAMPLE = ROOT / "examples" / "loans-pg"
APP_INIT = (EXAMPLE / "project" / "app" / "__init__.py").read_text()
# Slot uids and slot locks of this module's own, per pytest-xdist worker, so that what is left is
# never another test's run: the default range is 64000-64031, test_pg_package.py's from 64200,
# test_example_packages_scored.py's from 64300, tests/sandbox's from 64500.
_XDIST = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
UID_BASE, SLOTS = 64400 + 8 * _XDIST, 8
UIDS = range(UID_BASE, UID_BASE + SLOTS)
SANDBOX_ENV = {
    "PORTAL_SANDBOX_UID_BASE": str(UID_BASE),
    "PORTAL_SANDBOX_SLOTS": str(SLOTS),
    "PORTAL_SANDBOX_STATE_DIR": f"/run/portal-sandbox-service-faults-{_XDIST}",
}
# As tests/test_faults.py: sweep every 2 s, a worker silent for 6 s is dead (it beats every second).
FAST = {
    "PORTAL_SWEEP_SECONDS": "2",
    "PORTAL_RUN_RESEND_AFTER": "5",
    "PORTAL_WORKER_DEAD_AFTER": "6",
    "PORTAL_HEARTBEAT_SECONDS": "1",
}
RECOVERY = 120  # a bound on the wait for the killed worker's run to be scored by another
# What a PostgreSQL server of a run could leave on the host: its folder, socket, cluster, pid file.
SERVER_FILES = (".services", ".s.PGSQL.5432", ".s.PGSQL.5432.lock", "PG_VERSION", "postmaster.pid")


def _names(uid: int) -> list[str]:
    """The command names of the live processes of ``uid`` ("postgres", "python3", "bwrap"...)."""
    names = []
    for pid in processes_of_uid(uid):
        with contextlib.suppress(OSError):  # gone while we looked
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return names


def _running() -> dict[int, list[str]]:
    return {uid: names for uid in UIDS if (names := _names(uid))}


def _postgres_up() -> bool:
    return any("postgres" in names for names in _running().values())


def _gone(bound: float = 20) -> dict[int, list[str]]:
    """What runs as the slot uids once the kernel has had a moment (a bound, not a measurement)."""
    deadline = time.monotonic() + bound
    while _running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _running()


def _server_files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.name in SERVER_FILES)


@contextmanager
def _scoring_with_postgresql_up(tmp_path: Path, invite, *, changes=None, patch=None) -> Iterator[tuple]:
    """A worker (with a TMPDIR of its own) scoring a commit of loans-pg on issue-1, given once that
    commit's run is running with its PostgreSQL up (the starting point's run, queued with the first
    push, is scored before it): (the worker, the run, the worker's TMPDIR)."""
    scratch = tmp_path / "doomed-tmp"
    scratch.mkdir()
    env = {**FAST, **SANDBOX_ENV, "TMPDIR": str(scratch)}
    db_url = database_url(connection.settings_dict)
    with running_worker(db_url=db_url, log_dir=tmp_path, env=env, queues="scoring") as worker:
        sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes=changes, patch=patch)

        def up() -> Run | None:
            run = Run.objects.filter(invite=invite, commit=sha, status=Run.Status.RUNNING).first()
            return run if run is not None and _postgres_up() else None

        running = wait_for(up, timeout=180, interval=0.05, what="the commit's run with its PostgreSQL up")
        assert running.worker.startswith(worker.node_prefix)
        yield worker, running, scratch


# The workers are other processes: the invite is committed for them.
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_its_runs_postgresql_is_up_leaves_nothing_and_the_run_is_scored_again(tmp_path, settings):
    invite = make_invite(assessment_version_install(package_dir=EXAMPLE)).invite
    patch = EXAMPLE / "reference" / "ticket-1.patch"
    with _scoring_with_postgresql_up(tmp_path, invite, patch=patch) as (doomed, running, scratch):
        # The worker's process groups: its main process's, and the pool process's (each leads one of
        # its own, portal/celery.py). The sandboxes lead sessions of their own: their bwrap dies with
        # the pool process that started it. Nothing says goodbye.
        for group in {os.getpgid(doomed.process.pid), os.getpgid(running.worker_pid)}:
            os.killpg(group, signal.SIGKILL)
        doomed.process.wait(timeout=10)

        assert _gone() == {}
        assert _server_files(scratch) == []
    assert Run.objects.get(pk=running.pk).status == Run.Status.RUNNING  # as the dead worker left it

    rescuer_tmp = tmp_path / "rescuer-tmp"
    rescuer_tmp.mkdir()
    env = {**FAST, **SANDBOX_ENV, "TMPDIR": str(rescuer_tmp)}
    # The sweep that beat sends every PORTAL_SWEEP_SECONDS, sent from here: the embedded beat on the
    # SQLite broker sends its first due tasks only ("channel disconnected" after that).
    settings.PORTAL_WORKER_DEAD_AFTER = int(FAST["PORTAL_WORKER_DEAD_AFTER"])
    settings.PORTAL_RUN_RESEND_AFTER = int(FAST["PORTAL_RUN_RESEND_AFTER"])
    with running_worker(db_url=database_url(connection.settings_dict), log_dir=tmp_path, env=env) as rescuer:

        def all_finished() -> bool:
            runs_sweep()
            runs = Run.objects.filter(invite=invite)
            return runs.count() == 2 and not runs.filter(status__in=Run.ACTIVE).exists()

        wait_for(all_finished, timeout=RECOVERY, interval=1, what="the runs")
    running.refresh_from_db()
    assert running.worker.startswith(rescuer.node_prefix)
    assert Event.objects.filter(invite=invite, kind=Event.Kind.SCORED, data__run=running.pk).count() == 1
    assert dict(running.verdicts.values_list("ticket", "passed")) == {1: True, 2: False}, running.reason
    assert _gone() == {}
    assert _server_files(tmp_path) == []


# Celery gives each pool process a parent-death SIGKILL (prctl PR_SET_PDEATHSIG), which is all that
# ends it when the main process alone is killed. The kernel clears that signal on any change of the
# thread's fsuid or fsgid, which sandbox/files.py fs_identity makes to copy the tree and the
# PostgreSQL cluster in; fs_identity sets it back, so the pool process, its run's sandbox and its
# PostgreSQL die with the main process.
@pytest.mark.django_db(transaction=True)
def test_a_pool_process_and_its_runs_postgresql_die_with_the_workers_main_process(tmp_path):
    invite = make_invite(assessment_version_install(package_dir=EXAMPLE)).invite
    # An app that never gets ready (it sleeps at import): the server is up meanwhile, and a pool
    # process that outlived the kill would keep it up until the app's start-up limit of 20 s of its
    # own time, well past the bound below. Killed with its process, it is gone at once.
    slow = {"app/__init__.py": "import time\n\ntime.sleep(45)\n" + APP_INIT}
    with _scoring_with_postgresql_up(tmp_path, invite, changes=slow) as (doomed, running, scratch):
        try:
            os.killpg(os.getpgid(doomed.process.pid), signal.SIGKILL)  # the main process's group alone
            doomed.process.wait(timeout=10)

            assert _gone(bound=8) == {}
            assert _server_files(scratch) == []
            assert Run.objects.get(pk=running.pk).status == Run.Status.RUNNING  # as the dead worker left it
        finally:
            # Whatever outlived it is the test's to end, before its rows are flushed.
            with contextlib.suppress(ProcessLookupError):
                os.kill(running.worker_pid, signal.SIGKILL)
            _gone()


# Prepended to the app's package: each of uvicorn's two workers leaves a process of its own in a
# session of its own, deaf to the signals a polite stop sends, holding a connection to the run's
# database; then it sleeps past any budget.
DETACHED = """\
import os, signal, time

import psycopg

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        with psycopg.connect(os.environ["DATABASE_URL"]) as held:
            held.execute("select pg_sleep(600)")
    os._exit(0)
time.sleep(600)
"""


def test_a_run_cut_by_its_budget_while_a_detached_process_holds_the_database_leaves_nothing(
    db, tmp_path, settings, monkeypatch
):
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the run's scratch folders go here
    settings.PORTAL_RUN_BUDGET_SECONDS = 8
    invite = make_invite(assessment_version_install(package_dir=EXAMPLE)).invite
    sha = candidate_commit(
        invite, tmp_path / "work", branch="issue-1", changes={"app/__init__.py": DETACHED + APP_INIT}
    )

    # What ran as the slot uids while the run was scored, watched from beside it.
    seen: set[str] = set()
    scoring = threading.Event()

    def watch() -> None:
        while scoring.is_set():
            seen.update(name for names in _running().values() for name in names)
            time.sleep(0.05)

    scoring.set()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = score_commit(invite, sha)
    finally:
        scoring.clear()
        watcher.join(timeout=10)

    # The app sleeps: on a quiet host its own time used the budget (an error); on a busy one it mostly
    # waited for a CPU, so the run is queued again as starved. Either way the budget ended it.
    assert run.status in (Run.Status.ERROR, Run.Status.QUEUED)
    assert "the run took longer than its budget of 8 s (PORTAL_RUN_BUDGET_SECONDS)" in run.reason
    assert "postgres" in seen  # the server was up, serving the detached processes, when the budget ended
    assert _gone() == {}
    assert _server_files(scratch) == []
    assert list(scratch.iterdir()) == []  # the run's scratch folders too
