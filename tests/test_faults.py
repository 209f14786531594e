"""Faults are normal: the broker down during a push, a worker killed mid-run, PostgreSQL restarted
during pushes, a task delivered twice. Nothing recorded is lost, nothing stays stuck, every run is
scored exactly once, and git never reports a failure for a push that was kept.

Real processes throughout: gunicorn, Celery workers with beat (its sweep repairs what a fault left
behind), git, and a Redis and a PostgreSQL of the test's own to stop (tests/support/faults.py). They
run on CI's PostgreSQL + Redis leg; the sweep's periods are shortened so that each test lasts a
minute or two, not the production defaults' few minutes.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from portal.core.models import WorkerHeartbeat
from portal.invites.models import Event
from portal.scoring.models import Run, TestResult
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit, push_reference_fix
from tests.support.factories import make_invite
from tests.support.faults import Server, private_postgres, private_redis
from tests.support.git import GitClient, remote_url
from tests.support.processes import kill_session
from tests.support.server import PortalServer, running_portal
from tests.support.workers import database_url, running_worker, wait_for

pytestmark = [
    pytest.mark.engines,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True),
]

PATCHES = ROOT / "assessment_app" / "reference"
# Sweep every 2 s; a run sent and not started while workers idle is sent again after 5 s; a worker
# silent for 6 s is dead (beats every second).
FAST = {
    "PORTAL_SWEEP_SECONDS": "2",
    "PORTAL_RUN_RESEND_AFTER": "5",
    "PORTAL_WORKER_DEAD_AFTER": "6",
    "PORTAL_HEARTBEAT_SECONDS": "1",
}
# A killed worker's run is scored again within this long (the promise: about a minute).
RECOVERY = 120


@pytest.fixture(autouse=True)
def _production_engines():
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("fault tests run on PostgreSQL and Redis (CI's second leg)")


def _db_url() -> str:
    return database_url(connection.settings_dict)


def _scored_once(run: Run) -> None:
    """The run ended once: one "scored" event, one set of results, no duplicate test ids."""
    run.refresh_from_db()
    assert run.finished, (run.status, run.reason)
    events = Event.objects.filter(invite=run.invite, kind=Event.Kind.SCORED, data__run=run.pk)
    assert events.count() == 1
    ids = list(TestResult.objects.filter(run=run).values_list("test_id", flat=True))
    assert ids and len(ids) == len(set(ids))


def _all_finished(invite) -> bool:
    runs = Run.objects.filter(invite=invite)
    return runs.exists() and not runs.filter(status__in=Run.ACTIVE).exists()


def test_a_push_while_the_broker_is_down_succeeds_and_is_scored_once_the_broker_is_back(assessment_version, tmp_path):
    created = make_invite(assessment_version)
    invite = created.invite
    with private_redis(tmp_path) as redis:
        env = {**FAST, "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0"}
        with (
            running_portal(db_url=_db_url(), log_dir=tmp_path, env=env) as server,
            running_worker(db_url=_db_url(), log_dir=tmp_path, env=env, beat=True) as worker,
        ):
            work = tmp_path / "work"
            git = GitClient(tmp_path / "home")
            git.run("clone", "-q", remote_url(server.url, invite.public_id, invite.public_id, created.git_token), work)
            redis.stop()

            # git's push fails loudly on any error (check=True): it must not.
            head = push_reference_fix(server.url, created, 1, work, git)
            run = Run.objects.get(invite=invite, commit=head)
            base = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
            # Recorded, handed over, never taken by the broker.
            assert base.dispatched_at is not None and base.sent_at is None
            assert run.status == Run.Status.QUEUED
            assert "could not send task scoring.run" in server.log()

            redis.start()
            wait_for(lambda: _all_finished(invite), timeout=RECOVERY, interval=0.5, what=f"the runs\n{worker.log()}")
            # The worker's node name, as it announced itself (and records its heartbeat under).
            node = re.search(r"(test-[0-9a-f]+@\S+) ready\.", worker.log()).group(1)
            assert WorkerHeartbeat.objects.filter(name=node).exists()
    for scored in (base, run):
        _scored_once(scored)
    base.refresh_from_db()
    run.refresh_from_db()
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {1}
    # The starting point's run, handed over while the broker was down, was sent again by the sweep.
    assert base.attempt >= 2
    # Which worker scored each, and with what.
    for scored in (base, run):
        assert scored.worker == node and scored.worker_pid and scored.sent_at is not None
        assert scored.timings["total"] > 0


def test_a_worker_killed_mid_run_has_its_run_scored_once_by_another_within_two_minutes(assessment_version, tmp_path):
    invite = make_invite(assessment_version).invite
    with running_worker(db_url=_db_url(), log_dir=tmp_path, env=FAST, queues="scoring") as doomed:
        candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=PATCHES / "ticket-1.patch")
        running = wait_for(
            lambda: Run.objects.filter(invite=invite, status=Run.Status.RUNNING).first(),
            timeout=60,
            interval=0.1,
            what="a run to start",
        )
        victim = running.worker
        # The whole worker: its main process, its pool (each pool process leads a group of its
        # own) and the sandbox under it. Nothing gets to say goodbye.
        kill_session(doomed.process.pid)
        doomed.process.wait(timeout=10)
        killed_at = time.monotonic()
    assert Run.objects.get(pk=running.pk).status == Run.Status.RUNNING  # as the dead worker left it

    with running_worker(db_url=_db_url(), log_dir=tmp_path, env=FAST, beat=True) as rescuer:
        wait_for(lambda: _all_finished(invite), timeout=RECOVERY, interval=0.5, what=f"the runs\n{rescuer.log()}")
        recovered_in = time.monotonic() - killed_at
    _scored_once(running)
    running.refresh_from_db()
    assert running.worker != victim and running.worker.startswith("test-")
    assert running.attempt == 2
    assert recovered_in < RECOVERY


def test_a_task_delivered_twice_scores_the_run_once(assessment_version, tmp_path):
    invite = make_invite(assessment_version).invite
    with running_worker(db_url=_db_url(), log_dir=tmp_path, env=FAST, concurrency=2) as worker:
        # An app that takes 15 s to start when served (the candidate's own tests, which import it after
        # the verdict, are not slowed): the copy below surely arrives while the run is scored.
        slow = {"app/__init__.py": "import sys\nimport time\n\nif 'pytest' not in sys.modules:\n    time.sleep(15)\n"}
        head = candidate_commit(
            invite, tmp_path / "work", branch="issue-1", patch=PATCHES / "ticket-1.patch", changes=slow
        )
        run = wait_for(
            lambda: Run.objects.filter(invite=invite, commit=head, status=Run.Status.RUNNING).first(),
            timeout=120,
            interval=0.1,
            what="the run to start",
        )
        # The starting point's run goes first; its visible tests, after its verdict, hold the other pool
        # process for a while: once they are recorded, that process is free.
        wait_for(
            lambda: not Run.objects.filter(invite=invite, visible__state="pending").exclude(pk=run.pk).exists(),
            timeout=120,
            interval=0.1,
            what="the starting point's visible tests",
        )
        assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING
        # The broker delivers the same message again while the first is being scored: the other
        # pool process takes it at once, and leaves it.
        current_app.send_task("scoring.run", kwargs={"run_id": run.pk, "attempt": run.attempt})
        ignored = f"run {run.pk} is already being scored by {run.worker}; a duplicate task is ignored"
        wait_for(lambda: ignored in worker.log(), timeout=60, interval=0.1, what="the copy sent during the run")
        wait_for(lambda: _all_finished(invite), timeout=RECOVERY, interval=0.5, what="the runs")
        run.refresh_from_db()
        finished_at, results = run.finished_at, set(run.results.values_list("pk", flat=True))
        # Once more after it finished, and a message of an earlier attempt arriving late. Then a
        # new run, queued behind them: once it is scored, the copies ahead of it were taken.
        current_app.send_task("scoring.run", kwargs={"run_id": run.pk, "attempt": run.attempt})
        current_app.send_task("scoring.run", kwargs={"run_id": run.pk, "attempt": run.attempt - 1})
        candidate_commit(invite, tmp_path / "work", branch="issue-2", patch=PATCHES / "ticket-2.patch")
        wait_for(lambda: _all_finished(invite), timeout=RECOVERY, interval=0.5, what="the run queued behind them")
    _scored_once(run)
    run.refresh_from_db()
    assert run.finished_at == finished_at and run.status in Run.FINISHED
    assert set(run.results.values_list("pk", flat=True)) == results


# Commits each candidate pushes while PostgreSQL restarts.
PUSHES = 6
# Made in the private cluster by `manage.py shell`, as the portal's own services make them.
SETUP = """
import json
from pathlib import Path
from portal.assessments.services import assessment_version_install
from tests.support.factories import make_invite
version = assessment_version_install(package_dir=Path("assessment_app"))
made = [make_invite(version, name=f"Candidate {n}") for n in range(2)]
print(json.dumps([{"id": c.invite.public_id, "token": c.git_token} for c in made]))
"""


def _manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql, params).fetchall()


def test_pushes_while_postgresql_restarts_are_all_recorded_and_no_run_is_stuck(tmp_path):
    with private_redis(tmp_path) as redis, private_postgres() as postgres:
        url = f"postgres://postgres@127.0.0.1:{postgres.port}/portal"
        env = {**FAST, "DATABASE_URL": url, "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0"}
        _manage("migrate", "--no-input", env=env)
        candidates = json.loads(_manage("shell", "-c", SETUP, env=env).strip().splitlines()[-1])
        with (
            running_portal(db_url=url, log_dir=tmp_path, env=env) as server,
            running_worker(db_url=url, log_dir=tmp_path, env=env, beat=True) as worker,
        ):
            pushes: dict[str, list[tuple[str, int, str]]] = {c["id"]: [] for c in candidates}

            def candidate(c: dict, index: int) -> None:
                git = GitClient(tmp_path / f"home-{index}")
                work = tmp_path / f"work-{index}"
                git.run("clone", "-q", remote_url(server.url, c["id"], c["id"], c["token"]), work)
                git.run("checkout", "-q", "-b", "issue-1", cwd=work)
                for n in range(PUSHES):
                    sha = git.commit_file(work, "NOTES.md", f"attempt {n}\n", f"Fix: Resolve issue #1 - try {n}")
                    # As a candidate would: told to try again, they do, until it goes through.
                    for _try in range(60):
                        pushed = git.run("push", "-q", "origin", "issue-1", cwd=work, check=False)
                        pushes[c["id"]].append((sha, pushed.returncode, pushed.output))
                        if pushed.returncode == 0:
                            break
                        time.sleep(0.5)
                    time.sleep(0.3)

            threads = [threading.Thread(target=candidate, args=(c, i)) for i, c in enumerate(candidates)]
            for thread in threads:
                thread.start()
            # Restart PostgreSQL (a fast shutdown ends every connection) while they push.
            wait_for(lambda: all(len(p) >= 2 for p in pushes.values()), timeout=120, what="the first pushes")
            postgres.stop(signal.SIGINT)
            time.sleep(2)
            postgres.start()
            for thread in threads:
                thread.join(timeout=300)

            def settled() -> bool:
                active = _query(url, "SELECT count(*) FROM scoring_run WHERE status IN ('queued', 'running')")
                return active[0][0] == 0

            wait_for(settled, timeout=2 * RECOVERY, interval=1, what="every run to finish")
            log = server.log() + worker.log()
        data = Path(settings.PORTAL_DATA_DIR)
        for public_id, made in pushes.items():
            repo = data / "repos" / f"{public_id}.git"
            keep = GitClient(tmp_path / "inspect").run(
                "for-each-ref", "--format=%(refname)", "refs/portal/keep", cwd=repo
            )
            kept = {line.rsplit("/", 1)[1] for line in keep.stdout.split()}
            recorded = {
                sha
                for (sha,) in _query(
                    url,
                    "SELECT u.new_sha FROM hosting_refupdate u JOIN hosting_push p ON u.push_id = p.id "
                    "JOIN invites_invite i ON p.invite_id = i.id WHERE i.public_id = %s",
                    public_id,
                )
            }
            # Every commit the repository kept is recorded: no push lost...
            base = _query(
                url,
                "SELECT r.base_commit FROM hosting_repository r JOIN invites_invite i ON r.invite_id = i.id "
                "WHERE i.public_id = %s",
                public_id,
            )[0][0]
            assert kept - {base} == recorded
            # ...and every commit went through in the end, each push git called a success recorded.
            assert {sha for sha, returncode, _output in made if returncode == 0} <= recorded
            assert len({sha for sha, returncode, _output in made if returncode == 0}) == PUSHES
    # The restart hit the pushes: some were refused before anything was kept, with the portal's
    # sentence rather than a broken transfer (git never said a kept push failed), or were
    # recorded once the database was back.
    refused = [output for made in pushes.values() for _sha, returncode, output in made if returncode]
    assert refused or "the database is unreachable while recording a push" in log
    assert all("cannot reach its database" in output for output in refused), refused


def _post(base: str, path: str, credentials: tuple[str, str], body: bytes) -> tuple[int, str]:
    """A raw receive-pack POST, as a client that is not git might send it: (status, body)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    token = base64.b64encode(":".join(credentials).encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/x-git-receive-pack-request"}
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


@contextmanager
def _portal_on_private_postgres(tmp_path: Path) -> Iterator[tuple[Server, str, dict, PortalServer]]:
    """A PostgreSQL of the test's own, migrated, with one invite made, and the portal under gunicorn
    on it: (the database server, its URL, the invite's id and git token, the portal)."""
    with private_postgres() as postgres:
        url = f"postgres://postgres@127.0.0.1:{postgres.port}/portal"
        env = {"DATABASE_URL": url}
        _manage("migrate", "--no-input", env=env)
        [candidate, _other] = json.loads(_manage("shell", "-c", SETUP, env=env).strip().splitlines()[-1])
        with running_portal(db_url=url, log_dir=tmp_path, env=env) as server:
            yield postgres, url, candidate, server


PRE_PUSH = """#!/bin/sh
# Runs after git has read the portal's refs and before it sends the push: the test stops the
# database here. Bounded: gives up after 60 s.
touch "{ready}"
n=0
while [ ! -e "{go}" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
"""


def test_a_push_whose_database_goes_away_before_it_is_sent_is_refused_in_gits_own_words(tmp_path):
    # The window the restart test meets by chance, made certain by the candidate's own pre-push
    # hook: git has the portal's refs (the database answered), then PostgreSQL stops, then git
    # sends the push. git prints a refused push's words only in receive-pack's format, never a
    # 503's body ("RPC failed"), so that is how the portal answers.
    with _portal_on_private_postgres(tmp_path) as (postgres, url, c, server):
        git = GitClient(tmp_path / "home")
        work = tmp_path / "work"
        git.run("clone", "-q", remote_url(server.url, c["id"], c["id"], c["token"]), work)
        git.run("checkout", "-q", "-b", "issue-1", cwd=work)
        sha = git.commit_file(work, "NOTES.md", "notes\n", "Fix: Resolve issue #1 - notes")
        ready, go = tmp_path / "ready", tmp_path / "go"
        hook = work / ".git" / "hooks" / "pre-push"
        hook.write_text(PRE_PUSH.format(ready=ready, go=go))
        hook.chmod(0o755)
        pushed: list = []
        thread = threading.Thread(
            target=lambda: pushed.append(git.run("push", "origin", "issue-1", cwd=work, check=False))
        )
        thread.start()
        wait_for(ready.exists, timeout=60, what="git to have read the refs")
        postgres.stop(signal.SIGINT)
        go.touch()
        thread.join(timeout=120)
        # A push body that is not one, while the database is away: the plain answer, said the same.
        status, body = _post(server.url, f"/git/{c['id']}.git/git-receive-pack", (c["id"], c["token"]), b"junk")
        assert status == 503 and "cannot reach its database right now; nothing was changed" in body
        [refused] = pushed
        assert refused.returncode != 0
        assert "remote: refused: The portal cannot reach its database right now; nothing was changed." in refused.output
        assert "! [remote rejected] issue-1 -> issue-1 (the portal's database is unreachable)" in refused.output
        assert "RPC failed" not in refused.output
        repo = Path(settings.PORTAL_DATA_DIR) / "repos" / f"{c['id']}.git"
        inspect = GitClient(tmp_path / "inspect")
        assert inspect.run("rev-parse", "--verify", "-q", "refs/heads/issue-1", cwd=repo, check=False).returncode
        # The database back, the same push goes through and is recorded once.
        postgres.start()
        hook.unlink()
        again = git.run("push", "origin", "issue-1", cwd=work)
        assert f"remote: received issue-1 at {sha[:7]}" in again.stderr
        recorded = _query(
            url,
            "SELECT u.ref, u.new_sha FROM hosting_refupdate u JOIN hosting_push p ON u.push_id = p.id "
            "JOIN invites_invite i ON p.invite_id = i.id WHERE i.public_id = %s",
            c["id"],
        )
        assert recorded == [("refs/heads/issue-1", sha)]


class _PausingProxy:
    """A loopback TCP proxy to ``upstream`` that calls ``before_post`` once, before it forwards the
    first POST a client sends (git's ref advertisement has gone through by then)."""

    def __init__(self, upstream: str, before_post) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.before_post = before_post
        self.fired = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.upstream, timeout=60)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while chunk := source.recv(65536):
                if from_client and not self.fired.is_set() and b"POST " in tail + chunk:
                    self.fired.set()
                    self.before_post()
                tail = chunk[-4:]
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("protocol", ["0", "2"])
def test_a_clone_whose_database_goes_away_before_its_fetch_is_refused_in_gits_own_words(tmp_path, protocol):
    # As for a push: the ref advertisement went through, then the database stops, then git asks
    # for the objects. upload-pack's error packet is what git prints ("fatal: remote error: ...").
    with _portal_on_private_postgres(tmp_path) as (postgres, _url, c, server):
        proxy = _PausingProxy(server.url, before_post=lambda: postgres.stop(signal.SIGINT))
        try:
            git = GitClient(tmp_path / "home")
            clone = git.run(
                "-c",
                f"protocol.version={protocol}",
                "clone",
                remote_url(proxy.url, c["id"], c["id"], c["token"]),
                tmp_path / "work",
                check=False,
            )
        finally:
            proxy.close()
        assert proxy.fired.is_set()
        assert clone.returncode != 0
        assert (
            "fatal: remote error: The portal cannot reach its database right now; nothing was changed." in clone.output
        ), clone.output
        assert "RPC failed" not in clone.output
        # The database back, the clone goes through.
        postgres.start()
        again = git.run("clone", "-q", remote_url(server.url, c["id"], c["id"], c["token"]), tmp_path / "again")
        assert again.returncode == 0
