"""The Celery application.

Configured from Django settings (CELERY_* names). With no CELERY_BROKER_URL the
broker is embedded: kombu's SQLAlchemy transport on a SQLite file under var/,
consumed by a real worker process, so a laptop run behaves like production.
"""

import os
import sys

from celery import Celery
from celery.signals import worker_process_init

from portal.env import ConfigError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _load_settings(**_kwargs) -> None:
    """Read Django's settings when Celery first needs its configuration, so that a bad
    environment variable stops `celery worker` (or beat, call...) with one line naming it,
    as manage.py does, rather than with a traceback from inside Celery's option parsing."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - the first read imports portal/settings.py
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")


@worker_process_init.connect
def _leave_the_process_group(**_kwargs) -> None:
    """Put each prefork pool process in a process group of its own.

    Otherwise a SIGTERM to the worker's whole group (honcho on Ctrl-C, `kill -- -PGID`)
    reaches the pool processes as well as the main one: they exit at once, the pool forks
    replacements from a thread in the middle of the shutdown, and the parent-death SIGKILL
    Celery gives pool processes hits those when that thread ends, at times while one holds
    the lock of the pool's shared task pipe (billiard's blocking pool, which the embedded
    broker uses). The main process then waits for that lock forever after "Warm shutdown".
    Out of the group, pool processes are stopped by the main process alone, as Celery
    expects; they still die with it (parent-death signal), and a hard time limit now kills
    a stuck pool process's whole group, including what its task started.
    """
    os.setpgid(0, 0)


# The SQLAlchemy transport passes every broker_transport_options key to
# create_engine(), so its polling interval cannot be set there: set it on the
# transport class. 0.1 s brings send-to-start from about 0.9 s to tens of ms.
EMBEDDED_POLLING_INTERVAL = 0.1


def _tune_embedded_transport() -> None:
    from kombu.transport import sqlalchemy

    sqlalchemy.Transport.polling_interval = EMBEDDED_POLLING_INTERVAL


_tune_embedded_transport()
