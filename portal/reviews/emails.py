"""The email that tells a candidate their feedback is ready, with a link to their page.

Sent by the task ``reviews.feedback_email`` once the release is committed, with the same mechanics
as the invitations (portal.invites.emails): link tokens are stored only as hashes, so the email
carries a fresh link, and that link replaces the old one only once the mail server has accepted
the message (a failed send leaves the candidate's current link working). Three attempts; what
happened is kept on the ``Feedback`` row (``emailed_at``, ``email_error``) and on the invite's
timeline.

The wording is in ``reviews/email/feedback_ready_subject.txt``, ``.txt`` and ``.html``.
"""

import logging
import re

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.core.dispatch import send_on_commit
from portal.invites.emails import SEND_ERRORS, email_error_line
from portal.invites.models import Event, Invite
from portal.invites.services import event_record, invite_link_renew
from portal.invites.tokens import new_token
from portal.reviews.models import Feedback

logger = logging.getLogger(__name__)

FEEDBACK_TASK = "reviews.feedback_email"
ERROR_MAX_LENGTH = Feedback._meta.get_field("email_error").max_length


class FeedbackEmailDeferred(Exception):
    """This attempt failed and another will follow."""


def feedback_email_queue(*, feedback: Feedback) -> None:
    """Send the email's task once the release is committed (nothing is sent for a rolled-back one)."""
    send_on_commit(FEEDBACK_TASK, feedback_id=feedback.pk)


def feedback_email_send(*, feedback_id: int, final: bool = True) -> Feedback | None:
    """Email the candidate that their feedback is ready; what the task runs.

    Idempotent: feedback not released, or already emailed, is left alone. On a mail error the
    reason is kept; unless ``final``, FeedbackEmailDeferred is raised for the task to try again.
    """
    feedback = _claim(feedback_id=feedback_id)
    if feedback is None or feedback.released_at is None or feedback.emailed_at is not None:
        return feedback
    invite = feedback.invite
    if invite.status == Invite.Status.REVOKED:
        return _failed(feedback=feedback, error="The invite was revoked: no link can be sent.")
    link_token = new_token()
    message = _message(invite=invite, link_token=link_token)
    try:
        message.send()
    except SEND_ERRORS as exc:
        error = email_error_line(exc, secrets=[link_token, settings.EMAIL_HOST_PASSWORD], limit=ERROR_MAX_LENGTH)
        logger.warning("Feedback email for invite %s not sent: %s", invite.public_id, error)
        if not final:
            Feedback.objects.filter(pk=feedback.pk).update(email_error=error)
            raise FeedbackEmailDeferred(error) from exc
        return _failed(feedback=feedback, error=error)
    return _sent(feedback=feedback, link_token=link_token)


@transaction.atomic
def _claim(*, feedback_id: int) -> Feedback | None:
    """Count the attempt before the work, so a worker lost mid-send still leaves it counted."""
    feedback = (
        Feedback.objects.select_for_update(of=("self",))
        .select_related(
            "invite__candidate", "invite__assessment_version__assessment", "invite__created_by", "released_by"
        )
        .filter(pk=feedback_id)
        .first()
    )
    if feedback is not None and feedback.released_at is not None and feedback.emailed_at is None:
        feedback.email_attempts += 1
        feedback.save(update_fields=["email_attempts"])
    return feedback


@transaction.atomic
def _sent(*, feedback: Feedback, link_token: str) -> Feedback:
    invite = feedback.invite
    invite_link_renew(invite=invite, by=feedback.released_by, link_token=link_token)
    feedback.emailed_at = timezone.now()
    feedback.email_error = ""
    feedback.save(update_fields=["emailed_at", "email_error"])
    data = {"kind": "feedback", "to": invite.candidate.email, "new_link": True}
    event_record(invite=invite, kind=Event.Kind.EMAILED, data=data, at=feedback.emailed_at)
    return feedback


@transaction.atomic
def _failed(*, feedback: Feedback, error: str) -> Feedback:
    feedback.email_error = error[:ERROR_MAX_LENGTH]
    feedback.save(update_fields=["email_error"])
    data = {"kind": "feedback", "to": feedback.invite.candidate.email, "error": feedback.email_error}
    event_record(invite=feedback.invite, kind=Event.Kind.EMAIL_FAILED, data=data)
    return feedback


def _message(*, invite: Invite, link_token: str) -> EmailMultiAlternatives:
    recruiter = invite.created_by
    context = {
        # Names on one line, whatever a candidate typed: a greeting stays a greeting.
        "candidate_name": " ".join(invite.candidate.name.split()),
        "assessment_title": " ".join(invite.assessment_version.assessment.title.split()),
        "link": settings.PORTAL_BASE_URL + reverse("invite_page", args=[link_token]),
        "recruiter_name": (recruiter.get_full_name() or recruiter.get_username()) if recruiter else "",
        "recruiter_email": recruiter.email if recruiter else "",
        "portal_url": settings.PORTAL_BASE_URL,
    }
    base = "reviews/email/feedback_ready"
    # A line break in a header would start a new header.
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    text = re.sub(r"\n{3,}", "\n\n", render_to_string(f"{base}.txt", context)).strip() + "\n"
    reply_to = [recruiter.email] if recruiter and recruiter.email else []
    message = EmailMultiAlternatives(subject, text, to=[invite.candidate.email], reply_to=reply_to)
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message
