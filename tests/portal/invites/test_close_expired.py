"""Time over is a submission: active invites past their deadline or time limit go to review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.hosting.services import push_refusal
from portal.invites.models import Event, Invite
from portal.invites.selectors import submitted_invites
from portal.invites.services import invite_revoke, invites_close_expired
from portal.invites.tasks import close_expired_invites
from tests.support.factories import make_invite

pytestmark = pytest.mark.engines


def _set(invite: Invite, **fields) -> Invite:
    Invite.objects.filter(pk=invite.pk).update(**fields)
    invite.refresh_from_db()
    return invite


@pytest.fixture
def invites(assessment_version):
    now = timezone.now()
    made = {name: make_invite(assessment_version).invite for name in ("past", "future", "limit", "unstarted", "open")}
    _set(made["past"], deadline=now - timedelta(minutes=5))
    _set(made["future"], deadline=now + timedelta(hours=1))
    _set(made["limit"], time_limit=timedelta(hours=2), started_at=now - timedelta(hours=3))
    _set(made["unstarted"], time_limit=timedelta(hours=2))
    return made


def test_expired_invites_are_submitted_when_they_closed_and_reach_the_review_queue(invites):
    closed = invites_close_expired()
    assert {i.pk for i in closed} == {invites["past"].pk, invites["limit"].pk}
    past = Invite.objects.get(pk=invites["past"].pk)
    assert past.status == Invite.Status.SUBMITTED and past.submitted_at == past.deadline
    limit = Invite.objects.get(pk=invites["limit"].pk)
    assert limit.submitted_at == limit.started_at + limit.time_limit
    event = past.events.get(kind=Event.Kind.SUBMITTED)
    assert event.data == {"automatic": True} and event.at == past.deadline
    assert {i.pk for i in submitted_invites()} == {invites["past"].pk, invites["limit"].pk}
    for name in ("future", "unstarted", "open"):
        assert Invite.objects.get(pk=invites[name].pk).status == Invite.Status.ACTIVE
    assert "submitted" in push_refusal(invite=past)


def test_closing_twice_submits_once_and_a_revoked_invite_stays_revoked(invites):
    invite_revoke(invite=invites["past"])
    assert close_expired_invites() == 1  # the task, run in process: only "limit"
    assert close_expired_invites() == 0
    assert Invite.objects.get(pk=invites["past"].pk).status == Invite.Status.REVOKED
    assert Event.objects.filter(invite=invites["limit"], kind=Event.Kind.SUBMITTED).count() == 1
