"""Tasks that exist only for the test suite; workers load them with --include."""

import os
import signal
from pathlib import Path

from celery import shared_task

from portal.core.services import AttemptsExhausted, task_attempt_begin


def _note(log_path: str, line: str) -> None:
    with Path(log_path).open("a") as log:
        log.write(line + "\n")


@shared_task(name="tests.crash_until")
def crash_until(*, key: str, log_path: str, succeed_on: int, max_attempts: int) -> None:
    """Kill its own worker process until attempt ``succeed_on``, as a task that crashes a worker would."""
    try:
        attempt = task_attempt_begin(task="tests.crash_until", key=key, max_attempts=max_attempts)
    except AttemptsExhausted as exc:
        _note(log_path, f"exhausted at {exc.attempts}")
        return
    _note(log_path, f"attempt {attempt}")
    if attempt < succeed_on:
        os.kill(os.getpid(), signal.SIGKILL)
    _note(log_path, "done")
