"""Releasing feedback: a summary is required unless the releaser says to send the shared comments
alone; a refusal keeps what was typed; on release the candidate is emailed a link to their page,
through a real SMTP server, and that link shows the feedback."""

import re
from email.message import Message
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from portal.invites.models import Event, Invite
from portal.invites.services import invite_submit
from portal.reviews.emails import feedback_email_send
from portal.reviews.models import Feedback
from portal.reviews.services import ReviewRefused, comment_add, feedback_release
from tests.portal.reviews.test_comments import line_form, push_notes

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(created, tmp_path) -> Invite:
    """The candidate pushed a branch (so there are lines to comment on) and submitted."""
    push_notes(created.invite, tmp_path / "work")
    return invite_submit(invite=created.invite)


def _share(invite, author, body="Clear first line."):
    form = line_form(invite, line="1")
    fields = {key: form[key] for key in ("commit", "branch", "path", "side", "line")}
    return comment_add(invite=invite, author=author, body=body, shared=True, **fields)


def _post(client, invite, **fields):
    data = {"confirm": "yes", **fields}
    return client.post(reverse("review_feedback_release", args=[invite.public_id]), data)


def _text(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset())


def test_an_empty_summary_is_refused_and_what_was_typed_is_kept(client, reviewer, closed):
    _share(closed, reviewer)
    client.force_login(reviewer)
    response = _post(client, closed, summary="   ")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Write a summary for the candidate, or tick" in page and 'role="alert"' in page
    assert not Feedback.objects.filter(released_at__isnull=False).exists()
    with pytest.raises(ReviewRefused, match="Write a summary"):
        feedback_release(invite=closed, by=reviewer, summary="")

    # Refused for want of the confirmation: the summary typed so far is still in the box.
    response = _post(client, closed, summary="Well structured <work>.", confirm="")
    assert response.status_code == 400
    assert ">Well structured &lt;work&gt;.</textarea>" in response.content.decode()


def test_release_without_a_summary_needs_the_explicit_choice(client, reviewer, closed):
    _share(closed, reviewer)
    client.force_login(reviewer)
    response = _post(client, closed, summary="", without_summary="yes")
    assert response.status_code == 302
    feedback = Feedback.objects.get(invite=closed)
    assert feedback.released_at is not None and feedback.summary == ""
    page = client.get(reverse("review_form", args=[closed.public_id])).content.decode()
    assert "Released without a summary: the shared comments alone." in page


def test_the_candidate_is_emailed_a_link_that_opens_their_feedback(client, smtp, broker, reviewer, created, closed):
    _share(closed, reviewer)
    client.force_login(reviewer)
    with broker.commit():
        assert _post(client, closed, summary="Thank you: clear and careful.").status_code == 302
    assert broker.run() == ["reviews.feedback_email"]

    [message] = smtp.messages
    assert message["To"] == created.invite.candidate.email
    assert message["Subject"] == f"Feedback on your assessment {closed.assessment_version.assessment.title}"
    text = _text(message)
    link = re.search(r"https?://\S+/i/[\w-]+/", text).group(0)
    assert "their feedback is ready" in text and "replaces the one in your invitation" in text
    feedback = Feedback.objects.get(invite=closed)
    assert feedback.emailed_at is not None and feedback.email_attempts == 1
    assert Event.objects.filter(invite=closed, kind=Event.Kind.EMAILED, data__kind="feedback").exists()

    client.logout()
    page = client.get(urlsplit(link).path).content.decode()
    assert "Feedback from the reviewers" in page and "Thank you: clear and careful." in page
    # The emailed link replaced the old one, as an invitation's does.
    assert client.get(reverse("invite_page", args=[created.link_token])).status_code == 404

    # Delivered twice, the task mails once.
    feedback_email_send(feedback_id=feedback.pk)
    assert len(smtp.messages) == 1


def test_a_failed_send_keeps_the_old_link_and_says_why_on_the_review_page(
    client, settings, smtp, reviewer, created, closed
):
    feedback = feedback_release(invite=closed, by=reviewer, summary="Good.")
    settings.EMAIL_PORT = 1  # nothing listens there
    feedback_email_send(feedback_id=feedback.pk)
    feedback.refresh_from_db()
    assert feedback.emailed_at is None and feedback.email_error
    assert client.get(reverse("invite_page", args=[created.link_token])).status_code == 200
    client.force_login(reviewer)
    page = client.get(reverse("review_form", args=[closed.public_id])).content.decode()
    assert "The email telling them could not be sent" in page
