"""One build at a time: the file lock runtimes and service templates are built under."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path


def exclusive_lock(path: Path, *, timeout: float, busy: Callable[[], Exception]) -> int:
    """An exclusive flock on ``path`` (created if missing, never through a link), as its open descriptor;
    the exception ``busy()`` makes if another holder keeps it for ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise busy() from None
            time.sleep(0.2)
