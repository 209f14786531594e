from celery import Task, shared_task
from django.db import transaction

from portal.core.services import heartbeat_record


def send_on_commit(task: Task, /, **kwargs: object) -> None:
    """Queue ``task`` with keyword arguments once the current transaction commits.

    A worker may pick a task up within milliseconds; sent inside the transaction, it
    could read rows that are not committed yet, or act on a change that is later
    rolled back. Outside a transaction the task is sent at once. Pass ids, not objects.
    """
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs))


@shared_task(name="core.heartbeat")
def heartbeat() -> None:
    """Sent by beat every 30 s; whichever worker takes it records that it is alive."""
    heartbeat_record()
