from celery import shared_task

from portal.core.services import heartbeat_record


@shared_task(name="core.heartbeat")
def heartbeat() -> None:
    """Sent by beat every 30 s; whichever worker takes it records that it is alive."""
    heartbeat_record()
