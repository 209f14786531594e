"""Work of a test's own that holds the machine's cores, for tests that prove a verdict does not move with load."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def busy_cores(count: int = 6) -> Iterator[None]:
    """``count`` busy loops of this test's own, holding the cores while the block runs; always killed.

    Each in a session of its own, like independent work on the host: the scheduler gives every
    session its share (autogroups), so loops sharing the test's would slow down only the test.
    """
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()
