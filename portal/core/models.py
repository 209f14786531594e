from datetime import timedelta

from django.db import models

# Stopped workers stay listed on the status page this long, then their rows are pruned.
STOPPED_WORKERS_KEPT_FOR = timedelta(days=1)


class WorkerHeartbeat(models.Model):
    """What one Celery worker last reported about itself, and when.

    Every worker process writes its own row, keyed by its Celery node name, every
    PORTAL_HEARTBEAT_SECONDS and marks it stopped on a warm shutdown (portal/celery.py).
    The status page reads it to tell an operator that a queue has no worker, which
    would otherwise show only as scores that never arrive.
    """

    name = models.CharField(max_length=255, unique=True, help_text="Celery node name, such as worker@host.")
    hostname = models.CharField(max_length=255, help_text="The machine the worker runs on.")
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list)
    concurrency = models.PositiveIntegerField(null=True, blank=True)
    uid = models.PositiveIntegerField(null=True, blank=True)
    username = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    # Null while the worker runs; a worker killed outright never sets it and turns silent instead.
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class TaskAttempt(models.Model):
    """How many times a task has started for one key (for example one run id).

    Late acknowledgement plus reject-on-worker-lost requeues a task whose worker
    died; without a counter a task that kills its worker would loop forever.
    """

    task = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    attempts = models.PositiveIntegerField(default=0)
    first_started_at = models.DateTimeField(auto_now_add=True)
    last_started_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "key"], name="core_taskattempt_task_key")]

    def __str__(self) -> str:
        return f"{self.task}[{self.key}]: {self.attempts} attempts"
