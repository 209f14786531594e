"""Nothing stays stuck: runs the broker never took, lost, or left on a dead worker are sent again;
only a task of the run's current attempt may claim it; a play that lost its run records nothing;
`rescore --stuck` repairs, and the status page lists and resends. (The same with real processes
and real faults: tests/test_faults.py.)"""

import logging
from datetime import timedelta
from io import StringIO

import pytest
from celery import current_app
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from portal.core.models import WorkerHeartbeat
from portal.invites.models import Event
from portal.scoring.models import Run
from portal.scoring.services import SEND_GRACE, _claim, _finish, run_execute, runs_sweep
from tests.support.candidates import candidate_commit

pytestmark = pytest.mark.engines


@pytest.fixture
def in_flight(invite, tmp_path, django_capture_on_commit_callbacks) -> Run:
    """The invite's first push: the starting point's run handed to the workers (the broker took it)."""
    with django_capture_on_commit_callbacks(execute=True):
        candidate_commit(invite, tmp_path / "work", branch="issue-1")
    run = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    assert run.dispatched_at is not None and run.attempt == 1
    return run


def _age(run: Run, **fields) -> None:
    """Move the run's times back by ``fields`` (dispatched_at=..., sent_at=..., started_at=...)."""
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(**{name: now - delta for name, delta in fields.items()})


def _beat(name: str, *, seen: timedelta, queues=("default", "scoring")) -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults=dict(
            hostname="host", pid=1, queues=list(queues), concurrency=1, started_at=now - timedelta(hours=1),
            seen_at=now - seen,
        ),
    )[0]  # fmt: skip


def test_a_push_while_the_broker_refuses_is_kept_and_the_run_left_unsent(
    invite, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", refuse)
    said = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("portal.core.dispatch").addHandler(handler)
    with django_capture_on_commit_callbacks(execute=True):
        head = candidate_commit(invite, tmp_path / "work", branch="issue-1")  # raises nothing
    base = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    assert base.dispatched_at is not None and base.sent_at is None
    assert Run.objects.get(invite=invite, commit=head).status == Run.Status.QUEUED
    logging.getLogger("portal.core.dispatch").removeHandler(handler)
    assert any(line.startswith("could not send task scoring.run") for line in said)  # the log says so


def test_the_sweep_sends_a_run_the_broker_never_took_under_a_new_attempt(
    in_flight, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs: sent.append((name, kwargs)))
    Run.objects.filter(pk=in_flight.pk).update(sent_at=None)
    assert runs_sweep().unsent == 0  # just handed over: the send after commit may be on its way
    _age(in_flight, dispatched_at=SEND_GRACE + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep().unsent == 1
    in_flight.refresh_from_db()
    assert sent == [("scoring.run", {"run_id": in_flight.pk, "attempt": 2})]
    assert in_flight.attempt == 2 and in_flight.sent_at is not None


def test_a_run_lost_by_the_broker_is_sent_again_only_while_the_workers_idle(
    in_flight, settings, django_capture_on_commit_callbacks
):
    _age(in_flight, sent_at=timedelta(seconds=settings.PORTAL_RUN_RESEND_AFTER + 1))
    assert runs_sweep().lost == 0  # no live worker consumes the scoring queue: nobody would take it
    beat = _beat("w@host", seen=timedelta(seconds=1))
    other = Run.objects.exclude(pk=in_flight.pk).get(invite=in_flight.invite)
    Run.objects.filter(pk=other.pk).update(status=Run.Status.RUNNING, started_at=timezone.now(), worker=beat.name)
    assert runs_sweep().lost == 0  # a worker is busy: the run merely waits its turn in the queue
    Run.objects.filter(pk=other.pk).update(status=Run.Status.QUEUED, started_at=None, worker="")
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep().lost == 1
    assert Run.objects.get(pk=in_flight.pk).attempt == 2


def test_a_run_on_a_silent_worker_is_sent_again_and_its_old_play_records_nothing(
    in_flight, settings, django_capture_on_commit_callbacks
):
    run = _claim(in_flight.pk, attempt=1, worker="gone@host")
    _beat("gone@host", seen=timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER + 5))
    _age(run, started_at=timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER + 5))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep().orphaned == 1
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED
    # The dead worker's play was not dead after all: it ends now, and records nothing.
    _finish(run, status=Run.Status.PASSED)
    fresh = Run.objects.get(pk=run.pk)
    assert (fresh.status, fresh.attempt) == (Run.Status.QUEUED, 2)
    assert not Event.objects.filter(kind=Event.Kind.SCORED, data__run=run.pk).exists()


def test_a_live_workers_run_is_left_alone(in_flight, settings):
    run = _claim(in_flight.pk, attempt=1, worker="alive@host")
    _beat("alive@host", seen=timedelta(seconds=1))
    _age(run, started_at=timedelta(seconds=settings.PORTAL_WORKER_DEAD_AFTER + 5))
    assert runs_sweep().total == 0
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING


def test_only_a_task_of_the_current_attempt_claims_the_run(in_flight):
    Run.objects.filter(pk=in_flight.pk).update(attempt=3)
    assert _claim(in_flight.pk, attempt=2, worker="w@host") is None  # late, or sent before a resend
    assert Run.objects.get(pk=in_flight.pk).status == Run.Status.QUEUED
    claimed = _claim(in_flight.pk, attempt=3, worker="w@host")
    assert claimed is not None and (claimed.worker, claimed.status) == ("w@host", Run.Status.RUNNING)
    # The same attempt again while this process (alive) has it: a duplicate, ignored.
    _beat("w@host", seen=timedelta(seconds=1))
    assert _claim(in_flight.pk, attempt=3, worker="other@host") is None


def test_a_finished_run_is_not_played_again_by_a_late_task(in_flight):
    Run.objects.filter(pk=in_flight.pk).update(status=Run.Status.FAILED, finished_at=timezone.now())
    assert run_execute(run_id=in_flight.pk, attempt=1).status == Run.Status.FAILED


def test_rescore_stuck_sends_the_invites_stuck_runs_again_and_queues_nothing_else(
    in_flight, django_capture_on_commit_callbacks
):
    Run.objects.filter(pk=in_flight.pk).update(sent_at=None)
    _age(in_flight, dispatched_at=timedelta(minutes=5))
    count = Run.objects.count()
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rescore", "--invite", in_flight.invite.public_id, "--stuck", stdout=out)
    assert out.getvalue().strip() == "1 stuck run(s) sent to the workers again."
    assert Run.objects.count() == count
    assert Run.objects.get(pk=in_flight.pk).attempt == 2


def test_the_status_page_lists_stuck_runs_and_staff_send_them_again(
    client, admin_user, in_flight, django_capture_on_commit_callbacks
):
    Run.objects.filter(pk=in_flight.pk).update(sent_at=None)
    _age(in_flight, dispatched_at=timedelta(minutes=5))
    client.force_login(admin_user)
    page = client.get(reverse("system_status")).content.decode()
    assert "the broker did not take its task when it was handed over" in page
    assert 'hx-trigger="every 5s"' in page  # it updates itself while runs are listed
    assert reverse("system_status_resend", args=[in_flight.pk]) in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("system_status_resend", args=[in_flight.pk]), follow=True)
    assert f"Run {in_flight.pk} (refs/heads/main) was sent to the workers again." in response.content.decode()
    assert Run.objects.get(pk=in_flight.pk).attempt == 2


def test_resending_is_for_staff_by_post_and_for_runs_in_flight_only(client, admin_user, reviewer, in_flight):
    url = reverse("system_status_resend", args=[in_flight.pk])
    client.force_login(reviewer)
    assert client.post(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 405
    assert client.post(reverse("system_status_resend", args=[999999])).status_code == 404
    Run.objects.filter(pk=in_flight.pk).update(status=Run.Status.PASSED, finished_at=timezone.now())
    response = client.post(url, follow=True)
    assert "there was nothing to resend" in response.content.decode()
    assert Run.objects.get(pk=in_flight.pk).attempt == 1


def test_the_runs_list_costs_the_same_queries_for_many_runs(
    client, admin_user, in_flight, django_assert_max_num_queries
):
    Run.objects.filter(pk=in_flight.pk).update(sent_at=None)
    _age(in_flight, dispatched_at=timedelta(minutes=5))
    # Whether a live scoring worker is known changes the queries (the idle check runs only then);
    # a worker left by another test in this process must not decide it, so one is known here.
    WorkerHeartbeat.objects.all().delete()
    _beat("scorer@host", seen=timedelta(seconds=0))
    client.force_login(admin_user)
    # The first page a process serves may fill per-process caches (content
    # types and the like) with a query of its own; the cost per run is measured
    # on the page after it.
    client.get(reverse("system_status_runs"))
    with django_assert_max_num_queries(13) as few:
        client.get(reverse("system_status_runs"))
    for n in range(30):
        Run.objects.create(
            invite=in_flight.invite,
            assessment_version=in_flight.assessment_version,
            commit=f"{n:040x}",
            grader_version="x",
            queued_at=timezone.now() - timedelta(minutes=10),
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("system_status_runs")).content.decode()
    assert page.count("waiting for its turn") == 30


def test_staff_see_which_worker_scored_a_run_its_attempt_and_how_long_it_took(client, admin_user, reviewer, in_flight):
    run = _claim(in_flight.pk, attempt=1, worker="scorer@host-2")
    _finish(run, status=Run.Status.FAILED)
    url = reverse("invite_result_runs", args=[in_flight.invite.public_id])
    client.force_login(admin_user)
    page = client.get(url).content.decode()
    assert "<td>scorer@host-2</td><td>1</td>" in page and " s</td>" in page
    client.force_login(reviewer)
    assert "scorer@host-2" not in client.get(url).content.decode()
