import os
import socket

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.core.models import TaskAttempt, WorkerHeartbeat


class AttemptsExhausted(Exception):
    """A task has started more often than it may; the caller records the failure."""

    def __init__(self, task: str, key: str, attempts: int):
        super().__init__(f"{task}[{key}] started {attempts} times; giving up.")
        self.task = task
        self.key = key
        self.attempts = attempts


def heartbeat_record() -> WorkerHeartbeat:
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=socket.gethostname(),
        defaults={"pid": os.getpid(), "seen_at": timezone.now()},
    )
    return beat


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
