from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from portal.core.models import WorkerHeartbeat


@dataclass(frozen=True)
class WorkerStatus:
    hostname: str
    pid: int
    seen_at: datetime
    seconds_ago: int
    stale: bool


def worker_status_list(*, now: datetime | None = None) -> list[WorkerStatus]:
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.PORTAL_WORKER_STALE_AFTER)
    return [
        WorkerStatus(
            hostname=b.hostname,
            pid=b.pid,
            seen_at=b.seen_at,
            seconds_ago=max(0, int((now - b.seen_at).total_seconds())),
            stale=b.seen_at < stale_before,
        )
        for b in WorkerHeartbeat.objects.order_by("-seen_at")
    ]
