from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portal.core.models import STOPPED_WORKERS_KEPT_FOR, WorkerHeartbeat

RUNNING, SILENT, STOPPED = "running", "silent", "stopped"


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int | None
    uid: int | None
    username: str
    started_at: datetime
    seen_at: datetime
    seconds_ago: int
    state: str  # RUNNING, SILENT (no heartbeat for PORTAL_WORKER_STALE_AFTER seconds) or STOPPED


def worker_status_list(*, now: datetime | None = None) -> list[WorkerStatus]:
    """Every worker that runs or has gone silent, by name, then those stopped within STOPPED_WORKERS_KEPT_FOR."""
    now = now or timezone.now()
    silent_before = now - timedelta(seconds=settings.PORTAL_WORKER_STALE_AFTER)
    rows = WorkerHeartbeat.objects.filter(
        Q(stopped_at__isnull=True) | Q(stopped_at__gte=now - STOPPED_WORKERS_KEPT_FOR)
    )
    workers = [
        WorkerStatus(
            name=row.name,
            hostname=row.hostname,
            pid=row.pid,
            queues=row.queues,
            concurrency=row.concurrency,
            uid=row.uid,
            username=row.username,
            started_at=row.started_at,
            seen_at=row.seen_at,
            seconds_ago=max(0, int((now - row.seen_at).total_seconds())),
            state=STOPPED if row.stopped_at else SILENT if row.seen_at < silent_before else RUNNING,
        )
        for row in rows
    ]
    return sorted(workers, key=lambda worker: (worker.state == STOPPED, worker.name))


def queues_without_worker(*, workers: list[WorkerStatus]) -> list[str]:
    """The portal's queues (the default one and those tasks are routed to) that no running worker consumes."""
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE} | {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    for worker in workers:
        if worker.state == RUNNING:
            queues -= set(worker.queues)
    return sorted(queues)
