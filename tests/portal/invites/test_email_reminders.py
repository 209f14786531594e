"""Reminders before an invite closes: queued by beat's task once per invite, sent without a link."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.invites.emails import email_send, reminders_send
from portal.invites.models import Email, Event, Invite
from portal.invites.services import invite_revoke, invite_submit
from tests.support.factories import make_invite

pytestmark = pytest.mark.engines

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def lead(settings):
    settings.PORTAL_REMINDER_HOURS = 24


def _invite(assessment_version, *, created_ago: timedelta = timedelta(days=5), **fields) -> Invite:
    invite = make_invite(assessment_version, **fields).invite
    Invite.objects.filter(pk=invite.pk).update(created_at=NOW - created_ago)
    return Invite.objects.get(pk=invite.pk)


def test_an_invite_closing_within_the_lead_gets_one_reminder(assessment_version):
    invite = _invite(assessment_version, deadline=NOW + timedelta(hours=10), email="ann@example.com")
    [email] = reminders_send(now=NOW)
    assert (email.invite, email.kind, email.to, email.status) == (invite, "reminder", "ann@example.com", "queued")
    assert reminders_send(now=NOW + timedelta(minutes=15)) == []


def test_an_invite_closing_later_is_not_reminded_yet(assessment_version):
    _invite(assessment_version, deadline=NOW + timedelta(hours=30))
    assert reminders_send(now=NOW) == []


def test_an_invite_whose_time_is_over_is_not_reminded(assessment_version):
    _invite(assessment_version, deadline=NOW - timedelta(minutes=1))
    assert reminders_send(now=NOW) == []


def test_a_short_window_gets_no_reminder_on_the_heels_of_the_invitation(assessment_version):
    _invite(assessment_version, deadline=NOW + timedelta(hours=10), created_ago=timedelta(hours=30))
    assert reminders_send(now=NOW) == []


def test_zero_hours_disables_reminders(settings, assessment_version):
    settings.PORTAL_REMINDER_HOURS = 0
    _invite(assessment_version, deadline=NOW + timedelta(hours=1))
    assert reminders_send(now=NOW) == []


def test_a_time_limit_that_has_not_started_is_not_reminded(assessment_version):
    _invite(assessment_version, time_limit=timedelta(days=3))
    assert reminders_send(now=NOW) == []


def test_a_started_time_limit_is_reminded_before_it_runs_out(assessment_version):
    invite = _invite(assessment_version, time_limit=timedelta(days=3))
    Invite.objects.filter(pk=invite.pk).update(started_at=NOW - timedelta(hours=60))
    assert [email.invite for email in reminders_send(now=NOW)] == [invite]


def test_a_short_time_limit_is_not_reminded(assessment_version):
    invite = _invite(assessment_version, time_limit=timedelta(hours=4))
    Invite.objects.filter(pk=invite.pk).update(started_at=NOW - timedelta(hours=1))
    assert reminders_send(now=NOW) == []


def test_submitted_and_revoked_invites_are_not_reminded(assessment_version):
    invite_submit(invite=_invite(assessment_version, deadline=NOW + timedelta(hours=10)))
    invite_revoke(invite=_invite(assessment_version, deadline=NOW + timedelta(hours=10)))
    assert reminders_send(now=NOW) == []


def test_a_failed_reminder_is_not_queued_again(assessment_version):
    _invite(assessment_version, deadline=NOW + timedelta(hours=10))
    [email] = reminders_send(now=NOW)
    Email.objects.filter(pk=email.pk).update(status=Email.Status.FAILED)
    assert reminders_send(now=NOW + timedelta(minutes=15)) == []


def test_sending_a_reminder_records_it_and_carries_no_link(assessment_version, recruiter, mailoutbox):
    invite = _invite(assessment_version, deadline=NOW + timedelta(hours=10), created_by=recruiter)
    link_hash = invite.link_token_hash
    [email] = reminders_send(now=NOW)
    email = email_send(email_id=email.pk)

    assert email.status == Email.Status.SENT
    [message] = mailoutbox
    assert "/i/" not in message.body
    assert "link in your invitation email" in message.body
    assert f"ask rita ({recruiter.email}) for a new one" in message.body
    assert message.subject.startswith("Reminder: Library lending API closes in ")
    assert invite.events.get(kind=Event.Kind.REMINDED).data["email"] == email.pk
    assert Invite.objects.get(pk=invite.pk).link_token_hash == link_hash
