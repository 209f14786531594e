"""Who invites, as the candidate reads it: the person by name "at" the organisation
(PORTAL_ORGANISATION), never a bare username when a full name is known; the reminder names them too.
Sent through a real SMTP server, as in test_email.py."""

from datetime import timedelta
from email.message import Message

import pytest
from django.utils import timezone

from portal.invites.emails import email_send, invitation_queue, reminders_send
from tests.support.factories import make_invite


@pytest.fixture
def rita(recruiter):
    recruiter.first_name, recruiter.last_name = "Rita", "Ross"
    recruiter.save()
    return recruiter


def _parts(message: Message) -> tuple[str, str]:
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode(part.get_content_charset()).replace("\r\n", "\n")
        for part in message.walk()
        if not part.is_multipart()
    }
    return parts["text/plain"], parts["text/html"]


def _invitation(smtp, invite, *, by=None) -> tuple[str, str]:
    email = invitation_queue(invite=invite, by=by)
    email_send(email_id=email.pk)  # what the task does
    return _parts(smtp.messages[-1])


def test_the_invitation_names_the_person_at_the_organisation(settings, smtp, assessment_version, rita):
    settings.PORTAL_ORGANISATION = "Example Ltd"
    text, html = _invitation(smtp, make_invite(assessment_version, created_by=rita).invite)
    assert "\n\nRita Ross at Example Ltd has invited you to a take-home assessment: Library lending API.\n" in text
    assert "<p>Rita Ross at Example Ltd has invited you to a take-home assessment:" in html
    assert "write to Rita Ross at rita@example.com" in text
    assert "Assessment Portal · Example Ltd · http" in text
    assert "rita has invited" not in text


def test_without_an_organisation_the_person_alone(settings, smtp, assessment_version, rita):
    settings.PORTAL_ORGANISATION = ""
    text, _html = _invitation(smtp, make_invite(assessment_version, created_by=rita).invite)
    assert "\n\nRita Ross has invited you to a take-home assessment" in text
    assert "\nAssessment Portal · http" in text


def test_a_person_without_a_full_name_is_named_by_username(settings, smtp, assessment_version, recruiter):
    settings.PORTAL_ORGANISATION = "Example Ltd"
    text, _html = _invitation(smtp, make_invite(assessment_version, created_by=recruiter).invite)
    assert "rita at Example Ltd has invited you" in text


def test_an_invite_a_command_made_names_who_sent_the_invitation(settings, smtp, assessment_version, rita):
    settings.PORTAL_ORGANISATION = "Example Ltd"
    invite = make_invite(assessment_version).invite  # manage.py invite: no creator
    text, _html = _invitation(smtp, invite, by=rita)
    assert "Rita Ross at Example Ltd has invited you" in text
    assert smtp.messages[-1]["Reply-To"] == "rita@example.com"


@pytest.mark.parametrize(
    ("organisation", "opening"), [("Example Ltd", "Example Ltd has invited you"), ("", "You are invited")]
)
def test_with_nobody_known_the_organisation_invites_or_no_one(
    settings, smtp, assessment_version, organisation, opening
):
    settings.PORTAL_ORGANISATION = organisation
    text, html = _invitation(smtp, make_invite(assessment_version).invite)
    assert f"\n\n{opening} to a take-home assessment" in text
    assert f"<p>{opening} to a take-home assessment" in html
    assert " at  has" not in text


def test_names_stay_escaped_and_on_one_line(settings, smtp, assessment_version, recruiter):
    settings.PORTAL_ORGANISATION = "Example\n<b>Ltd</b>"
    recruiter.first_name, recruiter.last_name = "<script>Rita</script>", "Ross\nBcc: x@evil"
    recruiter.save()
    text, html = _invitation(smtp, make_invite(assessment_version, created_by=recruiter).invite)
    assert "<script>Rita</script> Ross Bcc: x@evil at Example <b>Ltd</b> has invited you" in text
    assert (
        "&lt;script&gt;Rita&lt;/script&gt; Ross Bcc: x@evil at Example &lt;b&gt;Ltd&lt;/b&gt; has invited you" in html
    )
    assert "<script>" not in html
    assert smtp.messages[-1]["Bcc"] is None


def test_the_reminder_says_whom_to_ask_for_a_new_link(settings, smtp, assessment_version, rita):
    settings.PORTAL_ORGANISATION = "Example Ltd"
    settings.PORTAL_REMINDER_HOURS = 24
    invite = make_invite(assessment_version, created_by=rita, deadline=timezone.now() + timedelta(hours=10)).invite
    type(invite).objects.filter(pk=invite.pk).update(created_at=timezone.now() - timedelta(days=5))
    [email] = reminders_send()
    email_send(email_id=email.pk)
    text, html = _parts(smtp.messages[-1])
    assert "ask Rita Ross at Example Ltd (rita@example.com) for a new one" in text
    assert 'ask Rita Ross at Example Ltd (<a href="mailto:rita@example.com">rita@example.com</a>) for a new one' in html
    assert "Assessment Portal · Example Ltd · http" in text
