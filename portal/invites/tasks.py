from celery import shared_task

from portal.invites.emails import EmailDeferred, email_send, reminders_send, submitted_notices_queue
from portal.invites.models import Invite
from portal.invites.services import invites_close_expired

# Three attempts in all, 1 then 5 minutes apart: long enough for a mail server that restarts.
EMAIL_RETRY_DELAYS = (60, 300)


@shared_task(name="invites.close_expired")
def close_expired_invites() -> int:
    """Beat sends this every minute: invites whose time is over are submitted for review."""
    return len(invites_close_expired())


@shared_task(name="invites.send_email", bind=True, max_retries=len(EMAIL_RETRY_DELAYS))
def send_email(self, email_id: int) -> str:
    """Send one queued email; on a mail error try again later, and mark it failed after the last try."""
    retries = self.request.retries
    try:
        return email_send(email_id=email_id, final=retries >= self.max_retries).status
    except EmailDeferred as exc:
        raise self.retry(countdown=EMAIL_RETRY_DELAYS[retries], exc=exc) from exc


@shared_task(name="invites.send_reminders")
def send_reminders() -> int:
    """Beat sends this every 15 minutes: reminders for invites that close soon."""
    return len(reminders_send())


@shared_task(name="invites.submitted_notice")
def submitted_notice(invite_id: int) -> int:
    """Sent by invite_submit: queue the notices to recruiters (once, however often this runs)."""
    invite = Invite.objects.filter(pk=invite_id).first()
    return len(submitted_notices_queue(invite=invite)) if invite else 0
