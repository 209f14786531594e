"""Every worker process records its own heartbeat: real `celery worker` processes, and no beat."""

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from portal.core.models import WorkerHeartbeat
from portal.core.services import WorkerReport, worker_heartbeat_prune, worker_heartbeat_record, worker_heartbeat_stop
from tests.support.processes import children, running
from tests.support.workers import database_url, running_worker, wait_for

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[3]
EVERY_SECOND = {"PORTAL_HEARTBEAT_SECONDS": "1"}
NO_SCORING = "Nothing scores pushes: no worker consumes the scoring queue."


@pytest.fixture
def start_worker(tmp_path):
    """Starts a worker on the test database that consumes ``queues`` and beats every second."""
    url = database_url(connection.settings_dict)
    return lambda queues: running_worker(db_url=url, log_dir=tmp_path, queues=queues, env=EVERY_SECOND)


def heartbeat_of(worker) -> WorkerHeartbeat | None:
    # By the pid of the process the test started: the heartbeat comes from the worker's main process.
    return WorkerHeartbeat.objects.filter(pid=worker.process.pid).first()


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_each_worker_reports_its_own_queues_and_is_shown_stopped_once_it_stops(start_worker, status_page):
    with start_worker("default") as general:
        with start_worker("scoring") as scorer:
            scoring = wait_for(lambda: heartbeat_of(scorer), timeout=10, what="the scoring worker's heartbeat")
            default = wait_for(lambda: heartbeat_of(general), timeout=10, what="the default worker's heartbeat")
            page = status_page()
            # Host, PID, queues and concurrency: each worker its own.
            assert page.rows[scoring.name][1:5] == [scoring.hostname, str(scorer.process.pid), "scoring", "1"]
            assert page.rows[default.name][1:5] == [default.hostname, str(general.process.pid), "default", "1"]
            assert page.rows[scoring.name][-1] == "running"
            assert NO_SCORING not in page.html
            # And again at the next beat, not only at start.
            wait_for(lambda: heartbeat_of(scorer).seen_at > scoring.seen_at, timeout=5, what="the next heartbeat")
        page = status_page()
        assert page.rows[scoring.name][-1] == "stopped"
        assert page.rows[default.name][-1] == "running"
        assert NO_SCORING in page.html


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_outright_turns_silent(start_worker, status_page, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 2
    with start_worker("default,scoring") as worker:
        beat = wait_for(lambda: heartbeat_of(worker), timeout=10, what="the worker's heartbeat")
        pool = children(worker.process.pid)
        worker.process.kill()
        worker.process.wait()
        wait_for(lambda: not any(map(running, pool)), timeout=10, what="the pool processes to die with it")
        wait_for(lambda: status_page().rows[beat.name][-1] == "silent", timeout=10, what="silence")
        assert NO_SCORING in status_page().html
        assert WorkerHeartbeat.objects.get(name=beat.name).stopped_at is None


def _heartbeats(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT pid, stopped_at FROM core_workerheartbeat").fetchall()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_worker_outlives_a_database_outage_and_reports_once_the_database_is_back(tmp_path):
    db_path = tmp_path / "database" / "portal.sqlite3"  # no such directory yet: every connection fails
    db_url = f"sqlite:///{db_path}"
    with running_worker(db_url=db_url, log_dir=tmp_path, queues="default", env=EVERY_SECOND) as worker:
        wait_for(lambda: worker.log().count("Could not record the heartbeat") >= 2, timeout=10, what="two failed beats")
        assert worker.process.poll() is None
        db_path.parent.mkdir()
        migrate = [sys.executable, "manage.py", "migrate", "-v0"]
        subprocess.run(migrate, cwd=ROOT, env={**os.environ, "DATABASE_URL": db_url}, check=True, timeout=60)
        [(pid, stopped_at)] = wait_for(lambda: _heartbeats(db_path), timeout=10, what="a heartbeat after the outage")
        assert (pid, stopped_at) == (worker.process.pid, None)
        assert "Recorded the heartbeat of" in worker.log()
    [(pid, stopped_at)] = _heartbeats(db_path)
    assert stopped_at is not None


def _report(name: str) -> WorkerReport:
    return WorkerReport(
        name=name,
        hostname="host-1",
        pid=42,
        queues=["scoring"],
        concurrency=2,
        uid=1000,
        username="portal",
        started_at=timezone.now(),
    )


def test_a_worker_that_starts_again_under_its_name_runs_again(db):
    worker_heartbeat_record(report=_report("worker@host-1"))
    worker_heartbeat_stop(name="worker@host-1")
    worker_heartbeat_record(report=_report("worker@host-1"))
    assert WorkerHeartbeat.objects.get(name="worker@host-1").stopped_at is None


def test_two_workers_on_one_host_keep_a_row_each(db):
    worker_heartbeat_record(report=_report("scorer@host-1"))
    worker_heartbeat_record(report=_report("general@host-1"))
    assert sorted(WorkerHeartbeat.objects.values_list("name", "hostname")) == [
        ("general@host-1", "host-1"),
        ("scorer@host-1", "host-1"),
    ]


def test_pruning_drops_only_workers_stopped_over_a_day_ago(db):
    for name in ("running@host", "stopped-today@host", "stopped-long-ago@host"):
        worker_heartbeat_record(report=_report(name))
    WorkerHeartbeat.objects.filter(name="stopped-today@host").update(stopped_at=timezone.now() - timedelta(hours=23))
    WorkerHeartbeat.objects.filter(name="stopped-long-ago@host").update(stopped_at=timezone.now() - timedelta(hours=25))
    assert worker_heartbeat_prune() == 1
    assert sorted(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["running@host", "stopped-today@host"]
