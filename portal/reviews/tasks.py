from celery import shared_task

from portal.reviews.services import assignment_notify, digest_send


@shared_task(name="reviews.notify_assigned")
def notify_assigned(assignment_id: int) -> bool:
    """Sent when a recruiter assigns a reviewer: tell them a submitted invite waits for them."""
    return assignment_notify(assignment_id=assignment_id)


@shared_task(name="reviews.digest")
def digest() -> int:
    """Beat sends this once a day: each reviewer's assigned invites not reviewed yet."""
    return digest_send()
