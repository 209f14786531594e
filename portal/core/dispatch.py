"""Sending Celery tasks: by name, once the transaction commits.

Services queue work with :func:`send_on_commit` and the task's *name*, so that no service
imports a tasks module: tasks import services, never the other way round, and no app
depends on another app's tasks. A name that no task carries fails at once, in the sender.
"""

from functools import cache

from celery import Task, current_app
from django.db import transaction


class UnknownTask(LookupError):
    pass


def send_on_commit(task: str | Task, /, **kwargs: object) -> None:
    """Queue the task called ``task`` with keyword arguments once the current transaction commits.

    A worker may pick a task up within milliseconds; sent inside the transaction, it
    could read rows that are not committed yet, or act on a change that is later
    rolled back. Outside a transaction the task is sent at once. Pass ids, not objects.
    """
    name = task if isinstance(task, str) else task.name
    _discover_tasks()
    if name not in current_app.tasks:
        raise UnknownTask(f"no Celery task is named {name!r}")
    transaction.on_commit(lambda: current_app.send_task(name, kwargs=kwargs))


@cache
def _discover_tasks() -> None:
    # Workers import every app's tasks module at start; a web process or a command sends by
    # name without importing them, so import them once here to know which names exist.
    current_app.loader.import_default_modules()
