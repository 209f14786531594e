"""/metrics: who may read it, what it reports, and that a scrape costs the same at any size.

The tests of the figures are marked ``engines``: they are aggregate queries whose arithmetic the
database does, and differently on each engine (durations are a subtraction of timestamps: Django's
own SQL function giving microseconds on SQLite, intervals on PostgreSQL; conditional counts are
CASE expressions on SQLite, FILTER clauses on PostgreSQL; the workers' queues are JSON). The access
tests only check the request, which no engine changes.
"""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from portal.core.models import WorkerHeartbeat
from portal.invites.models import Invite
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.factories import make_invite, push_branches

TOKEN = "prom-3f9c2a7d41b8e6"
engines = pytest.mark.engines


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN


def _scrape(client, **extra):
    """The samples of a scrape with the token, by (name, labels): {("portal_runs", (("status", "queued"),)): 1.0}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


# Who may read it.


def test_a_request_from_outside_without_the_token_gets_404(client, db):
    assert client.get("/metrics").status_code == 404


def test_the_token_opens_it(client, db):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer"])
def test_a_wrong_token_gets_404(client, db, authorization):
    assert client.get("/metrics", HTTP_AUTHORIZATION=authorization).status_code == 404


def test_without_a_token_set_no_bearer_opens_it(client, db, settings):
    settings.PORTAL_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 404


def test_a_request_to_a_loopback_name_from_inside_needs_no_token(client, db):
    assert client.get("/metrics", HTTP_HOST="localhost:8000", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_a_request_to_the_internal_url_s_host_from_the_container_network_needs_no_token(client, db, settings):
    settings.PORTAL_INTERNAL_URL = "http://web:8000"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "web"]
    assert client.get("/metrics", HTTP_HOST="web:8000", REMOTE_ADDR="172.18.0.7").status_code == 200


def test_an_internal_host_through_the_proxy_or_from_a_public_address_gets_404(client, db):
    # nginx passes the client's Host on: "Host: localhost" sent to the public name must not open it.
    proxied = client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 404
    # gunicorn reached directly from the Internet (documentation addresses count as private: a real one).
    assert client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="8.8.4.4").status_code == 404


def test_an_internal_scrape_over_plain_http_is_not_redirected_to_https_in_production(client, db, settings, tmp_path):
    production = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "a-production-key-for-this-test-only-0123456789",
        "PORTAL_BASE_URL": "https://assessments.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    code = "from django.conf import settings; print(settings.SECURE_SSL_REDIRECT, *settings.SECURE_REDIRECT_EXEMPT)"
    printed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=os.environ | production, capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed[0] == "True"
    settings.SECURE_SSL_REDIRECT, settings.SECURE_REDIRECT_EXEMPT = True, printed[1:]
    assert client.get("/metrics", HTTP_HOST="localhost:8000").status_code == 200
    # Public requests (the test client's own host) are redirected as for any page, before anything is read.
    assert client.get("/metrics").status_code == 301


def test_prometheus_asking_for_openmetrics_gets_it(client, db):
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0"
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


# What it reports.


def _runs_in_every_state(invite) -> None:
    """Seven runs of one push (the starting point and six branches), one per state, with known times."""
    push_branches(invite, 6)
    now = timezone.now()
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    states = [
        # status, queued, dispatched, started, finished (seconds ago)
        (Run.Status.PASSED, 300, 300, 100, 40),  # ran 60 s, scored 260 s after the push
        (Run.Status.FAILED, 300, 300, 200, 50),  # ran 150 s, 250 s
        (Run.Status.ERROR, 300, 300, None, 10),  # never started (too many files): 290 s
        (Run.Status.RUNNING, 30, 30, 5, None),
        (Run.Status.QUEUED, 30, 30, None, None),  # dispatched, not started
        (Run.Status.QUEUED, 600, None, None, None),  # waiting for the invite's run in flight
        (Run.Status.SUPERSEDED, 300, None, None, 20),
    ]
    runs = list(Run.objects.filter(invite=invite).order_by("pk"))
    assert len(runs) == len(states)
    for run, (status, queued, dispatched, started, finished) in zip(runs, states, strict=True):
        Run.objects.filter(pk=run.pk).update(
            status=status,
            queued_at=ago(queued),
            dispatched_at=dispatched and ago(dispatched),
            started_at=started and ago(started),
            finished_at=finished and ago(finished),
        )


@engines
def test_runs_are_counted_by_status_and_queue_state(client, invite):
    _runs_in_every_state(invite)
    samples = _scrape(client)
    for status in ("queued", "running", "passed", "failed", "error", "superseded"):
        expected = 2 if status == "queued" else 1
        assert samples[("portal_runs", (("status", status),))] == expected, status
    assert samples[("portal_runs_waiting", (("state", "waiting"),))] == 1
    assert samples[("portal_runs_waiting", (("state", "dispatched"),))] == 1
    assert 600 <= samples[("portal_oldest_waiting_run_age_seconds", ())] < 660


@engines
def test_every_status_is_reported_when_there_are_no_runs(client, db):
    samples = _scrape(client)
    assert [samples[("portal_runs", (("status", status),))] for status in Run.Status.values] == [0] * 6
    assert samples[("portal_oldest_waiting_run_age_seconds", ())] == 0
    assert samples[("portal_push_to_score_seconds_count", ())] == 0


@engines
def test_durations_of_finished_runs_fill_the_histograms(client, invite):
    _runs_in_every_state(invite)
    samples = _scrape(client)
    run = {
        le: samples[("portal_run_duration_seconds_bucket", (("le", le),))] for le in ("30.0", "60.0", "180.0", "+Inf")
    }
    assert run == {"30.0": 0, "60.0": 1, "180.0": 2, "+Inf": 2}  # the error run never started
    assert samples[("portal_run_duration_seconds_sum", ())] == pytest.approx(210)
    assert samples[("portal_run_duration_seconds_count", ())] == 2
    assert samples[("portal_push_to_score_seconds_bucket", (("le", "120.0"),))] == 0
    assert samples[("portal_push_to_score_seconds_bucket", (("le", "300.0"),))] == 3
    assert samples[("portal_push_to_score_seconds_sum", ())] == pytest.approx(800)
    assert samples[("portal_push_to_score_seconds_count", ())] == 3


@engines
def test_invites_are_counted_by_status(client, assessment_version):
    make_invite(assessment_version)
    revoked = make_invite(assessment_version).invite
    Invite.objects.filter(pk=revoked.pk).update(status=Invite.Status.REVOKED)
    samples = _scrape(client)
    assert samples[("portal_invites", (("status", "active"),))] == 1
    assert samples[("portal_invites", (("status", "revoked"),))] == 1
    assert samples[("portal_invites", (("status", "submitted"),))] == 0


def _worker(name: str, *, queues: list[str], seen: timedelta, stopped: bool = False) -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=name,
        hostname="host-1",
        pid=100,
        queues=queues,
        started_at=now - timedelta(hours=1),
        seen_at=now - seen,
        stopped_at=now if stopped else None,
    )


@engines
def test_workers_report_their_heartbeat_and_whether_they_are_up(client, db, settings):
    settings.PORTAL_WORKER_STALE_AFTER = 120
    scorer = _worker("scorer@host-1", queues=["scoring"], seen=timedelta(seconds=10))
    _worker("general@host-1", queues=["scoring", "default"], seen=timedelta(minutes=10))
    _worker("old@host-1", queues=["default"], seen=timedelta(minutes=5), stopped=True)
    samples = _scrape(client)
    heartbeat = ("portal_worker_last_heartbeat_timestamp_seconds", (("queues", "scoring"), ("worker", "scorer@host-1")))
    assert samples[heartbeat] == pytest.approx(scorer.seen_at.timestamp())
    assert samples[("portal_worker_up", (("worker", "scorer@host-1"),))] == 1
    assert samples[("portal_worker_up", (("worker", "general@host-1"),))] == 0  # silent
    assert ("portal_worker_up", (("worker", "old@host-1"),)) not in samples  # stopped on purpose
    assert samples[("portal_queue_workers", (("queue", "scoring"),))] == 1
    assert samples[("portal_queue_workers", (("queue", "default"),))] == 0


@engines
def test_a_scrape_makes_the_same_few_queries_at_any_number_of_runs(client, invite, assessment_version):
    push_branches(invite, 2)
    with CaptureQueriesContext(connection) as few:
        _scrape(client)
    push_branches(make_invite(assessment_version).invite, 30)
    _worker("scorer@host-1", queues=["scoring"], seen=timedelta(seconds=10))
    with CaptureQueriesContext(connection) as many:
        samples = _scrape(client)
    assert samples[("portal_runs", (("status", "queued"),))] == 3 + 31
    assert len(many) == len(few) <= 3  # runs, invites, workers
