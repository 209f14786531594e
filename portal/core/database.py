"""Writes that must outlive a database restart.

A push that git http-backend has already written into the repository, or a run a worker has
already scored, must be recorded even if PostgreSQL restarts at that moment (an upgrade, a
failover): losing the record would lose the work, and git would tell the candidate a kept push
failed. Such writes go through :func:`database_retry`, which tries again on a fresh connection
while the database comes back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How long a write waits for the database to come back: a restart takes seconds.
RETRY_SECONDS = 60.0


def database_retry(action: Callable[[], T], *, what: str, seconds: float = RETRY_SECONDS) -> T:
    """``action()``, tried again on a new connection while the database is unreachable, for up to
    ``seconds``; the last error is raised after that.

    ``action`` must be a whole unit of work (its own ``transaction.atomic()``), because a failed
    try is rolled back and played again from the start. Inside an outer transaction nothing can be
    retried, so the error is raised at once.
    """
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("the database is unreachable while %s; trying again in %.1f s: %s", what, delay, exc)
            # The broken connection is dropped; the next query opens a new one.
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
