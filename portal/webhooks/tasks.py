import logging

from celery import current_app, shared_task

from portal.webhooks.services import DELIVER_TASK, deliveries_sweep, delivery_attempt

logger = logging.getLogger(__name__)

# A retry due within this many seconds is sent by the task itself, with a countdown; a later one is
# left to the sweep (a message held for hours by a broker is one a restart may lose or repeat).
RETRY_BY_TASK_WITHIN = 60


@shared_task(name="webhooks.deliver")
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery (nothing if it is not due or another attempt holds it)."""
    attempted = delivery_attempt(delivery_id=delivery_id)
    if attempted is None:
        return "not due"
    if attempted.retry_in is not None and attempted.retry_in <= RETRY_BY_TASK_WITHIN:
        try:
            current_app.send_task(DELIVER_TASK, kwargs={"delivery_id": delivery_id}, countdown=attempted.retry_in)
        except Exception as exc:  # the broker is away: the sweep sends it once it is due
            logger.warning("could not queue the retry of webhook delivery %s: %s", delivery_id, exc)
    return attempted.delivery.status


@shared_task(name="webhooks.sweep")
def sweep() -> dict:
    """Beat sends this every 30 s: lost attempts ended, due deliveries sent."""
    result = deliveries_sweep()
    return {"lost": result.lost, "sent": result.sent}
