from celery import shared_task

from portal.reviews.emails import FeedbackEmailDeferred, feedback_email_send
from portal.reviews.services import assignment_notify, digest_send

# Three attempts in all, 1 then 5 minutes apart, as for the invitations.
EMAIL_RETRY_DELAYS = (60, 300)


@shared_task(name="reviews.notify_assigned")
def notify_assigned(assignment_id: int) -> bool:
    """Sent when a recruiter assigns a reviewer: tell them a submitted invite waits for them."""
    return assignment_notify(assignment_id=assignment_id)


@shared_task(name="reviews.digest")
def digest() -> int:
    """Beat sends this once a day: each reviewer's assigned invites not reviewed yet."""
    return digest_send()


@shared_task(name="reviews.feedback_email", bind=True, max_retries=len(EMAIL_RETRY_DELAYS))
def feedback_email(self, feedback_id: int) -> bool:
    """Sent when feedback is released: email the candidate a link to read it; retried on a mail error."""
    retries = self.request.retries
    try:
        feedback = feedback_email_send(feedback_id=feedback_id, final=retries >= self.max_retries)
    except FeedbackEmailDeferred as exc:
        raise self.retry(countdown=EMAIL_RETRY_DELAYS[retries], exc=exc) from exc
    return feedback is not None and feedback.emailed_at is not None
