"""Sending Celery tasks: by name, once the transaction commits, never failing the caller.

Services queue work with :func:`send_on_commit` and the task's *name*, so that no service
imports a tasks module: tasks import services, never the other way round, and no app
depends on another app's tasks. A name that no task carries fails at once, in the sender.

The broker may be down when a change commits (Redis restarting, a network cut). The change is
kept all the same: the send is logged as failed and the caller goes on, and whoever owns the
work sends it again later from the database (``on_sent`` records that the broker took it; the
scoring sweep resends runs that were never taken). A candidate's push therefore never fails
because of the broker.
"""

import logging
from collections.abc import Callable
from functools import cache
from importlib import import_module

from celery import Task, current_app
from django.apps import apps
from django.db import transaction
from django.utils.module_loading import module_has_submodule

logger = logging.getLogger(__name__)


class UnknownTask(LookupError):
    pass


def send_on_commit(task: str | Task, /, *, on_sent: Callable[[], object] | None = None, **kwargs: object) -> None:
    """Queue the task called ``task`` with keyword arguments once the current transaction commits.

    A worker may pick a task up within milliseconds; sent inside the transaction, it
    could read rows that are not committed yet, or act on a change that is later
    rolled back. Outside a transaction the task is sent at once. Pass ids, not objects.

    ``on_sent`` is called once the broker has taken the message. A send that fails (the
    broker is unreachable) is logged and does not raise: the change that asked for it is
    committed, and the task is sent again by whatever sweeps its kind of work.
    """
    name = task if isinstance(task, str) else task.name
    if name not in current_app.tasks:
        tasks_import()
    if name not in current_app.tasks:
        raise UnknownTask(f"no Celery task is named {name!r}")
    transaction.on_commit(lambda: send_now(name, on_sent=on_sent, **kwargs))


def send_now(name: str, /, *, on_sent: Callable[[], object] | None = None, **kwargs: object) -> bool:
    """Send task ``name`` now; whether the broker took it (a failure is logged, not raised)."""
    try:
        current_app.send_task(name, kwargs=kwargs)
    except Exception as exc:  # kombu's OperationalError, a refused connection, a timeout...
        logger.warning("could not send task %s %s to the broker, it will be sent again: %s", name, kwargs, exc)
        return False
    if on_sent is not None:
        try:
            on_sent()
        except Exception as exc:  # the database went away meanwhile: the sweep sends it again, harmlessly
            logger.warning("task %s %s was sent but could not be marked sent: %s", name, kwargs, exc)
    return True


@cache
def tasks_import() -> None:
    """Import every installed app's tasks module, once: workers import them at start, a web
    process or a command sends by name without them, and must know which names exist.

    Imported directly, not with Celery's ``loader.import_default_modules()``: that sends Celery's
    import signal, on which its Django fixup runs ``django.setup()`` again, and so configures
    logging again. In a worker's pool process, whose stderr Celery has replaced with a proxy that
    logs what is written to it, the handler would then write into that proxy, which drops what a
    handler writes while it logs: every later line of that process would be lost."""
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "tasks"):
            import_module(f"{config.name}.tasks")
