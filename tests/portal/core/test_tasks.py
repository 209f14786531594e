"""Celery round trips through a real worker process on the configured broker.

On the embedded defaults the broker is kombu's SQLAlchemy transport on SQLite; the
CI leg runs this module again with CELERY_BROKER_URL on Redis.
"""

import logging
import uuid

import pytest
from django.conf import settings
from django.db import transaction

from portal.celery import app
from portal.core.dispatch import UnknownTask, send_on_commit, tasks_import
from portal.core.models import TaskAttempt
from tests.support.celery_tasks import crash_until
from tests.support.workers import wait_for

pytestmark = [pytest.mark.engines, pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_task_sent_on_commit_runs_in_a_real_worker_process(transactional_db, celery_worker, tmp_path):
    log_path, key = tmp_path / "attempts.log", uuid.uuid4().hex
    with transaction.atomic():
        send_on_commit("tests.crash_until", key=key, log_path=str(log_path), succeed_on=1, max_attempts=1)
        assert not TaskAttempt.objects.filter(key=key).exists()
    wait_for(lambda: log_path.exists() and "done" in log_path.read_text(), timeout=30, what="the task")
    assert TaskAttempt.objects.get(task="tests.crash_until", key=key).attempts == 1
    assert "Task tests.crash_until" in celery_worker.log()


def test_nothing_is_sent_when_the_transaction_rolls_back(transactional_db, celery_worker, tmp_path):
    leaked_log, leaked_key = tmp_path / "leaked.log", uuid.uuid4().hex
    with pytest.raises(RuntimeError), transaction.atomic():
        send_on_commit(crash_until, key=leaked_key, log_path=str(leaked_log), succeed_on=1, max_attempts=1)
        raise RuntimeError("rolled back")
    # A task sent now is processed after anything already queued, so once it has run
    # a leaked task would have run too.
    probe_log = tmp_path / "probe.log"
    send_on_commit(crash_until, key=uuid.uuid4().hex, log_path=str(probe_log), succeed_on=1, max_attempts=1)
    wait_for(lambda: probe_log.exists() and "done" in probe_log.read_text(), timeout=30, what="the probe task")
    assert not leaked_log.exists()
    assert not TaskAttempt.objects.filter(key=leaked_key).exists()


def test_a_task_whose_worker_was_killed_is_redelivered_and_counted(transactional_db, celery_worker, tmp_path):
    log_path, key = tmp_path / "attempts.log", uuid.uuid4().hex
    crash_until.delay(key=key, log_path=str(log_path), succeed_on=2, max_attempts=3)
    wait_for(lambda: log_path.exists() and "done" in log_path.read_text(), timeout=60, what="the second attempt")
    assert log_path.read_text().splitlines() == ["attempt 1", "attempt 2", "done"]
    assert TaskAttempt.objects.get(task="tests.crash_until", key=key).attempts == 2


def test_a_task_that_always_kills_its_worker_stops_after_its_attempts(transactional_db, celery_worker, tmp_path):
    log_path, key = tmp_path / "attempts.log", uuid.uuid4().hex
    crash_until.delay(key=key, log_path=str(log_path), succeed_on=99, max_attempts=2)
    wait_for(lambda: log_path.exists() and "exhausted" in log_path.read_text(), timeout=90, what="exhaustion")
    assert log_path.read_text().splitlines() == ["attempt 1", "attempt 2", "exhausted at 3"]


def test_scoring_tasks_are_routed_to_their_own_queue():
    route = settings.CELERY_TASK_ROUTES["scoring.*"]
    assert route == {"queue": "scoring"}
    assert app.amqp.router.route({}, "scoring.run")["queue"].name == "scoring"
    assert app.amqp.router.route({}, "hosting.prune_auth_failures")["queue"].name == "default"


def test_a_task_is_sent_by_its_name_and_an_unknown_name_fails_in_the_sender(db):
    with pytest.raises(UnknownTask, match=r"scoring\.nonexistent"):
        send_on_commit("scoring.nonexistent", run_id=1)


def test_knowing_the_task_names_configures_nothing_again():
    # Celery's own import of the tasks modules runs django.setup() again, which configures logging
    # again: in a worker's pool process, every later log line was lost (the handler wrote into the
    # proxy Celery puts on stderr).
    root = logging.getLogger()
    handlers, filters = list(root.handlers), [list(handler.filters) for handler in root.handlers]
    tasks_import.__wrapped__()
    assert root.handlers == handlers
    assert [list(handler.filters) for handler in root.handlers] == filters
    assert {"scoring.run", "scoring.visible", "analysis.invite", "invites.send_email"} <= set(app.tasks)
