"""The Celery application.

Configured from Django settings (CELERY_* names). With no CELERY_BROKER_URL the
broker is embedded: kombu's SQLAlchemy transport on a SQLite file under var/,
consumed by a real worker process, so a laptop run behaves like production.
"""

import contextlib
import logging
import os
import pwd
import socket
import sys
import threading
from datetime import UTC, datetime

from celery import Celery, bootsteps
from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

from portal.core import logcontext
from portal.env import ConfigError, load_env_file

# Every process of the portal imports this module first (portal/__init__.py), `celery -A portal
# worker` and beat included: .env is read here, as manage.py and portal.serve read it, before any setting.
try:
    load_env_file()
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
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


@celeryd_after_setup.connect
def _refuse_work_it_cannot_do(sender, instance, **_kwargs) -> None:
    """A worker without the data directory scores only: the default queue's tasks (the analysis,
    which reads and merges the repositories) need it. And it scores only with the worker
    credential, which it fetches every commit and package with. Said at start-up, not at the first task."""
    from django.conf import settings

    from portal.core.workers import NoWorkerCredential, has_worker_credential

    consumed = set(instance.app.amqp.queues.consume_from or instance.app.amqp.queues)
    global _scores  # read by the pool processes this process forks
    _scores = settings.CELERY_TASK_ROUTES["scoring.*"]["queue"] in consumed
    if settings.PORTAL_DATA_DIR is None and settings.CELERY_TASK_DEFAULT_QUEUE in consumed:
        sys.exit(
            f"Configuration error: this worker has no data directory (PORTAL_DATA_DIR is empty), so it can only "
            f"score: start it with --queues scoring, and run the {settings.CELERY_TASK_DEFAULT_QUEUE!r} queue where "
            "the data directory is."
        )
    if not has_worker_credential():
        sys.exit(f"Configuration error: {NoWorkerCredential()}")


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


# Whether this worker takes the scoring tasks (their queue, CELERY_TASK_ROUTES), set as it starts.
_scores = False


@worker_process_init.connect
def _grader_warm(**_kwargs) -> None:
    """A pool process of a worker that scores starts its warm grader now, in the background
    (grader.warm): its first run does not wait for pytest's imports."""
    if _scores:
        from grader.run import hidden_tests_warm_up

        hidden_tests_warm_up()


@worker_process_init.connect
def _scratch_of_its_own(**_kwargs) -> None:
    """Temporary files in a folder of this pool process's own; a killed one's are removed by the next."""
    from portal.core.scratch import scratch_begin

    scratch_begin()


@worker_process_shutdown.connect
def _scratch_removed(**_kwargs) -> None:
    from portal.core.scratch import scratch_end

    scratch_end()


# Every record a task writes names the task, its id, and the run or invite its keyword arguments
# (run_id, invite_id) name: LOG_FORMAT=json writes them as fields (portal/core/logcontext.py).
@task_prerun.connect
def _bind_task_to_log_records(task_id=None, task=None, kwargs=None, **_kwargs) -> None:
    logcontext.task_begin(task=task.name, task_id=task_id, kwargs=kwargs)


@task_postrun.connect
def _unbind_task_from_log_records(task_id=None, **_kwargs) -> None:
    logcontext.task_end(task_id=task_id)


logger = logging.getLogger(__name__)

# How long a warm shutdown waits for the heartbeat thread to record that the worker stopped.
HEARTBEAT_STOP_TIMEOUT = 10.0


class HeartbeatStep(bootsteps.StartStopStep):
    """Every worker reports itself for the status page, whatever queues it consumes.

    A beat task would reach one worker only, and never one that consumes only the
    scoring queue. So each worker's main process runs a thread that records the
    worker's node name, queues, concurrency and user every PORTAL_HEARTBEAT_SECONDS,
    and marks the worker stopped on shutdown.
    """

    # Started after the pool has forked its first processes.
    requires = {"celery.worker.components:Pool"}

    def create(self, worker):
        return _Heartbeat(worker)


app.steps["worker"].add(HeartbeatStep)


class _Heartbeat:
    """The heartbeat thread of one worker.

    It alone touches the database in the worker's main process, and closes its connection
    after each write. Django's connections belong to the thread that opened them, so the pool
    processes, forked from the main thread, never inherit one to use; should a fork copy this
    thread's connection in the milliseconds of a write, the child drops it unused, and psycopg
    leaves the server connection to the process that opened it.
    """

    def __init__(self, worker):
        self.worker = worker
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="portal-heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        from django.conf import settings

        self.interval = settings.PORTAL_HEARTBEAT_SECONDS
        self.started_at = datetime.now(UTC)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(HEARTBEAT_STOP_TIMEOUT)

    def _run(self) -> None:
        # Models can be imported only once Django is set up, which Celery's Django fix-up does
        # when the worker starts; this module is imported before that, by portal/__init__.py.
        from portal.core import services

        name = self.worker.hostname
        uid = os.getuid()
        try:
            username = pwd.getpwuid(uid).pw_name
        except KeyError:  # a container may run as a uid with no passwd entry
            username = ""

        def report() -> services.WorkerReport:
            return services.WorkerReport(
                name=name,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                # Read at each beat: remote control (add_consumer, cancel_consumer) changes them.
                queues=sorted(self.worker.app.amqp.queues.consume_from),
                concurrency=self.worker.concurrency,
                uid=uid,
                username=username,
                started_at=self.started_at,
            )

        logger.info("Recording the heartbeat of %s every %s s.", name, self.interval)
        pruned = False
        while True:
            if self._write(lambda: services.worker_heartbeat_record(report=report())) and not pruned:
                pruned = self._write(services.worker_heartbeat_prune)
            if self._stopping.wait(self.interval):
                break
        self._write(lambda: services.worker_heartbeat_stop(name=name))

    def _write(self, action) -> bool:
        """Run one database write; a failure (database down) is logged, and the next beat tries again."""
        from django.db import DatabaseError, connection

        try:
            action()
        except Exception as exc:
            # The traceback once, not at every beat of an outage.
            logger.warning(
                "Could not record the heartbeat of %s: %s", self.worker.hostname, exc, exc_info=not self._failing
            )
            self._failing = True
            return False
        else:
            if self._failing:
                logger.info("Recorded the heartbeat of %s again.", self.worker.hostname)
            self._failing = False
            return True
        finally:
            # A broken connection fails to close but is dropped all the same.
            with contextlib.suppress(DatabaseError):
                connection.close()


# The SQLAlchemy transport passes every broker_transport_options key to
# create_engine(), so its polling interval cannot be set there: set it on the
# transport class. 0.1 s brings send-to-start from about 0.9 s to tens of ms.
EMBEDDED_POLLING_INTERVAL = 0.1


def _tune_embedded_transport() -> None:
    from kombu.transport import sqlalchemy

    sqlalchemy.Transport.polling_interval = EMBEDDED_POLLING_INTERVAL


_tune_embedded_transport()
