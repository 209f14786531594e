from celery import shared_task

from portal.invites.services import invites_close_expired


@shared_task(name="invites.close_expired")
def close_expired_invites() -> int:
    """Beat sends this every minute: invites whose time is over are submitted for review."""
    return len(invites_close_expired())
