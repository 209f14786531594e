from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.core.models import STOPPED_WORKERS_KEPT_FOR, TaskAttempt, WorkerHeartbeat


class AttemptsExhausted(Exception):
    """A task has started more often than it may; the caller records the failure."""

    def __init__(self, task: str, key: str, attempts: int):
        super().__init__(f"{task}[{key}] started {attempts} times; giving up.")
        self.task = task
        self.key = key
        self.attempts = attempts


@dataclass(frozen=True)
class WorkerReport:
    """What a worker process says about itself with each heartbeat."""

    name: str  # the Celery node name, such as worker@host
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    uid: int
    username: str
    started_at: datetime


def worker_heartbeat_record(*, report: WorkerReport) -> WorkerHeartbeat:
    """Record that the worker named in ``report`` is alive now (and running again, if it had stopped)."""
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        name=report.name,
        defaults={
            "hostname": report.hostname,
            "pid": report.pid,
            "queues": report.queues,
            "concurrency": report.concurrency,
            "uid": report.uid,
            "username": report.username,
            "started_at": report.started_at,
            "seen_at": timezone.now(),
            "stopped_at": None,
        },
    )
    return beat


def worker_heartbeat_stop(*, name: str) -> None:
    """Record that worker ``name`` is shutting down, so the status page tells stopped from silent."""
    now = timezone.now()
    WorkerHeartbeat.objects.filter(name=name).update(seen_at=now, stopped_at=now)


def worker_heartbeat_prune() -> int:
    """Delete the rows of workers that stopped more than STOPPED_WORKERS_KEPT_FOR ago; returns how many."""
    deleted, _ = WorkerHeartbeat.objects.filter(stopped_at__lt=timezone.now() - STOPPED_WORKERS_KEPT_FOR).delete()
    return deleted


@transaction.atomic
def task_attempt_begin(*, task: str, key: str, max_attempts: int) -> int:
    """Count one more start of ``task`` for ``key``; raise AttemptsExhausted past the limit.

    Committed before the task does its work, so a worker killed mid-task still
    leaves the attempt counted.
    """
    TaskAttempt.objects.get_or_create(task=task, key=key)
    TaskAttempt.objects.filter(task=task, key=key).update(attempts=F("attempts") + 1, last_started_at=timezone.now())
    attempts = TaskAttempt.objects.get(task=task, key=key).attempts
    if attempts > max_attempts:
        raise AttemptsExhausted(task, key, attempts)
    return attempts


def task_attempt_clear(*, task: str, key: str) -> None:
    TaskAttempt.objects.filter(task=task, key=key).delete()
