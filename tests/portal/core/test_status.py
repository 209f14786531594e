from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from portal.core.models import WorkerHeartbeat
from portal.core.selectors import worker_status_list


def test_the_status_page_lists_workers_and_flags_missing_ones(client, admin_user, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 120
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="fresh-host", pid=10, seen_at=now - timedelta(seconds=5))
    WorkerHeartbeat.objects.create(hostname="gone-host", pid=11, seen_at=now - timedelta(minutes=10))
    client.force_login(admin_user)
    page = client.get(reverse("system_status")).content.decode()
    assert "fresh-host" in page
    assert "<mark>missing</mark>" in page
    assert [(w.hostname, w.stale) for w in worker_status_list(now=now)] == [
        ("fresh-host", False),
        ("gone-host", True),
    ]


def test_the_status_page_says_when_no_worker_has_reported(client, admin_user):
    client.force_login(admin_user)
    assert b"No worker has reported yet." in client.get(reverse("system_status")).content
