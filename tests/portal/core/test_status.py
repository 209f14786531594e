from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.core.models import WorkerHeartbeat
from portal.core.selectors import worker_status_list

pytestmark = pytest.mark.engines

NO_SCORING = "Nothing scores pushes: no worker consumes the scoring queue."
NO_DEFAULT = "no worker consumes the default queue."


@pytest.fixture(autouse=True)
def _only_the_workers_each_test_records(db):
    """Each test lists the workers it records; a real worker from an earlier test may have left its row."""
    WorkerHeartbeat.objects.all().delete()


def _worker(name: str, *, queues: list[str], seen: timedelta, stopped: timedelta | None = None) -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=name,
        hostname="host-1",
        pid=100,
        queues=queues,
        concurrency=2,
        uid=1000,
        username="portal",
        started_at=now - timedelta(days=3),
        seen_at=now - seen,
        stopped_at=None if stopped is None else now - stopped,
    )


def test_each_worker_is_listed_with_its_queues_user_and_state(status_page, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 120
    _worker("scorer@host-1", queues=["scoring"], seen=timedelta(seconds=12))
    _worker("general@host-1", queues=["default"], seen=timedelta(minutes=10))
    _worker("old@host-1", queues=["default", "scoring"], seen=timedelta(hours=1), stopped=timedelta(hours=1))
    rows = status_page().rows
    # Host, PID, queues, concurrency, user; then started, last heartbeat, state.
    assert rows["scorer@host-1"][1:6] == ["host-1", "100", "scoring", "2", "portal (1000)"]
    assert rows["scorer@host-1"][-2:] == ["12 s ago", "running"]
    assert rows["general@host-1"][-1] == "silent"
    assert rows["old@host-1"][-1] == "stopped"


def test_a_silent_worker_is_marked(status_page, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 60
    _worker("quiet@host-1", queues=["default"], seen=timedelta(seconds=61))
    assert "<mark>silent</mark>" in status_page().html


def test_workers_stopped_more_than_a_day_ago_are_not_listed(status_page):
    _worker("yesterday@host-1", queues=["scoring"], seen=timedelta(hours=25), stopped=timedelta(hours=25))
    _worker("today@host-1", queues=["scoring"], seen=timedelta(hours=23), stopped=timedelta(hours=23))
    assert list(status_page().rows) == ["today@host-1"]


def test_running_workers_come_first_then_stopped_ones(db):
    _worker("b@host", queues=["default"], seen=timedelta(seconds=1))
    _worker("a@host", queues=["default"], seen=timedelta(seconds=1), stopped=timedelta(seconds=1))
    _worker("c@host", queues=["default"], seen=timedelta(seconds=1))
    assert [w.name for w in worker_status_list()] == ["b@host", "c@host", "a@host"]


def test_the_page_says_when_no_running_worker_consumes_the_scoring_queue(status_page, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 60
    _worker("general@host-1", queues=["default"], seen=timedelta(seconds=5))
    _worker("stopped-scorer@host-1", queues=["scoring"], seen=timedelta(seconds=5), stopped=timedelta(seconds=5))
    _worker("silent-scorer@host-1", queues=["scoring"], seen=timedelta(minutes=5))
    page = status_page().html
    assert NO_SCORING in page
    assert NO_DEFAULT not in page


def test_the_page_says_when_no_running_worker_consumes_the_default_queue(status_page):
    _worker("scorer@host-1", queues=["scoring"], seen=timedelta(seconds=5))
    page = status_page().html
    assert "Invite analyses are not updated: no worker consumes the default queue." in page
    assert NO_SCORING not in page


def test_no_warning_while_running_workers_cover_every_queue(status_page):
    _worker("all@host-1", queues=["default", "scoring"], seen=timedelta(seconds=5))
    assert 'role="alert"' not in status_page().html


def test_the_page_says_when_no_worker_has_reported(status_page):
    page = status_page().html
    assert "No worker has reported yet." in page
    assert NO_SCORING in page


def test_only_staff_see_the_status_page(client, recruiter):
    client.force_login(recruiter)
    assert client.get(reverse("system_status")).status_code == 403
