"""The Start button of a time limit, the bundle starting the clock, and what a candidate sees of their runs."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.assessments.models import Assessment
from portal.assessments.services import version_manifest
from portal.invites.models import Event, Invite
from portal.invites.services import invite_submit
from portal.scoring.models import Run
from tests.support.factories import push_branches, record_push, score_all


def _set(invite: Invite, **fields) -> None:
    Invite.objects.filter(pk=invite.pk).update(**fields)


def _page(client, token: str) -> str:
    response = client.get(reverse("invite_page", args=[token]))
    assert response.status_code == 200
    return response.content.decode()


# Start


def test_before_start_the_page_shows_the_time_and_start_but_not_the_tickets_or_the_repository(client, created):
    _set(created.invite, time_limit=timedelta(hours=2))
    html = _page(client, created.link_token)
    assert "Start: my 2 hours begin now" in html
    assert "Open tickets" not in html  # tickets.md
    assert "git clone" not in html
    assert created.git_token not in html
    assert reverse("invite_submit", args=[created.link_token]) not in html


def test_start_starts_the_clock_once_and_shows_everything(client, created):
    _set(created.invite, time_limit=timedelta(hours=2))
    before = timezone.now()
    response = client.post(reverse("invite_start", args=[created.link_token]))
    assert response.status_code == 302
    created.invite.refresh_from_db()
    started = created.invite.started_at
    assert started is not None and before <= started <= timezone.now()  # started by this press
    html = _page(client, created.link_token)
    assert "1 hour 59 minutes left" in html
    assert "Open tickets" in html and created.git_token in html and "Start:" not in html

    client.post(reverse("invite_start", args=[created.link_token]))  # a second press changes nothing
    created.invite.refresh_from_db()
    assert created.invite.started_at == started
    events = list(created.invite.events.filter(kind=Event.Kind.STARTED).values_list("data", flat=True))
    assert events == [{"via": "button", "address": "127.0.0.1"}]


def test_start_is_a_post_with_csrf(created):
    _set(created.invite, time_limit=timedelta(hours=2))
    client = Client(enforce_csrf_checks=True)
    url = reverse("invite_start", args=[created.link_token])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    created.invite.refresh_from_db()
    assert created.invite.started_at is None


@pytest.mark.parametrize("closed", ["submitted", "expired"])
def test_start_on_a_closed_invite_changes_nothing(client, created, closed):
    _set(created.invite, time_limit=timedelta(hours=2))
    if closed == "submitted":
        invite_submit(invite=created.invite)
    else:
        _set(created.invite, deadline=timezone.now() - timedelta(minutes=1))
    client.post(reverse("invite_start", args=[created.link_token]))
    created.invite.refresh_from_db()
    assert created.invite.started_at is None


def test_start_with_a_wrong_token_is_the_same_404(client, created):
    assert client.post(reverse("invite_start", args=["not-a-token"])).status_code == 404


def test_downloading_the_bundle_starts_the_clock(client, created):
    _set(created.invite, time_limit=timedelta(hours=2))
    response = client.get(reverse("invite_bundle", args=[created.link_token]))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    created.invite.refresh_from_db()
    assert created.invite.started_at is not None
    assert created.invite.events.filter(kind=Event.Kind.STARTED, data__via="bundle").count() == 1


# What the candidate sees of their runs


def _scored_invite(created) -> None:
    """Push the starting point on issue-1 (its visible tests fail) and score it."""
    branches = push_branches(created.invite, 1)
    assert set(branches) == {"issue-1"}
    score_all(created.invite)


def _runs(client, created) -> str:
    response = client.get(reverse("invite_runs", args=[created.link_token]))
    assert response.status_code == 200
    return response.content.decode()


def _level(created, level: str) -> None:
    Assessment.objects.filter(pk=created.invite.assessment_version.assessment_id).update(candidate_results=level)


@pytest.mark.integration
def test_result_visibility_per_assessment(client, created):
    assert Assessment.objects.get().candidate_results == "visible"  # the default
    _scored_invite(created)
    run = Run.objects.get(invite=created.invite, ref="refs/heads/issue-1")
    assert run.status == Run.Status.FAILED  # the hidden tests of ticket 1 fail on the starting point
    passed, total = run.visible["passed"], run.visible["total"]
    assert 0 < passed < total  # the starting point fails some of its own tests

    # Grouped by ticket: #1's own test fails (the branch is the starting point); the other tickets'
    # fail as shipped and are not this push's failures; every other shipped test passes.
    (own,) = version_manifest(created.invite.assessment_version).ticket(1).visible_tests
    others = [
        t for ticket in version_manifest(created.invite.assessment_version).tickets[1:] for t in ticket.visible_tests
    ]
    assert {own, *others} <= set(run.visible["failed"])  # the real test ids are the manifest's
    html = _runs(client, created)
    start = html.index('<code class="branch">issue-1</code>')
    row = html[start : html.index("</tr>", start)]
    assert "Your tests for #1: 0 of 1 pass" in row
    assert "Other tickets: not worked on in this branch (their tests still fail, as shipped)." in row
    assert f"Your other tests: {passed} of {total - 6} pass" in row
    assert f"#1: <code>{own}</code>" in row and not any(test_id in row for test_id in others)
    assert "fixes #1" not in html and "#1 still fails" not in html

    _level(created, "tickets")
    html = _runs(client, created)
    assert "Your tests for #1: 0 of 1 pass" in html
    assert "#1 still fails" in html

    _level(created, "nothing")
    html = _runs(client, created)
    assert "pass" not in html and "#1" not in html
    assert "Scores are not shown while you work" in html
    # Whatever the level, never a hidden test's name or message.
    hidden = list(run.results.values_list("test_id", flat=True))
    assert hidden
    for level in ("visible", "tickets"):
        _level(created, level)
        html = _runs(client, created)
        assert not any(test_id in html for test_id in hidden)


def test_a_queued_run_shows_no_results_yet(client, created):
    _level(created, "tickets")
    record_push(created.invite, [("0" * 40, created.invite.repository.base_commit, "refs/heads/issue-3")])
    html = _runs(client, created)
    assert "queued" in html
    assert "pass" not in html
