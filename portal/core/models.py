from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker on a host processed the heartbeat task.

    Lets the status page tell an operator that no worker is consuming, which
    would otherwise show only as scores that never arrive.
    """

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


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
