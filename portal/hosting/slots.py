"""How many git requests this web process serves at once: in all, and per invite.

A clone or push holds one of gunicorn's threads for as long as it lasts. Without a cap, a few
candidates (or one, opening many connections) could hold every thread, and the pages and
/healthz would wait behind them. The counts are per process, like the threads they protect
(settings.PORTAL_GIT_MAX_REQUESTS below WEB_THREADS). A slot is released when the response is
closed, which the WSGI server always does, even when the client went away.

A burst is not turned away: a request that finds every slot taken waits for one (first come,
first served, up to ``wait`` seconds), because git does not retry a refused push and a deadline
rush is exactly when candidates push together. A waiting request holds its invite's place, so
one candidate still has at most ``per_key`` requests served or waiting; past that it is refused
at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

# What a refused client is told to wait: a transfer usually ends within seconds.
RETRY_AFTER = 10


@dataclass
class Slot:
    """One git request's place; ``release`` may be called any number of times."""

    slots: GitSlots
    key: str
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        with self.slots._changed:
            if self._released:
                return
            self._released = True
            self.slots._total -= 1
            self.slots._leave(self.key)
            self.slots._changed.notify()


class GitSlots:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._total = 0
        self._per_key: Counter[str] = Counter()  # served and waiting
        self._waiting = 0

    def take(self, key: str, *, total: int, per_key: int, wait: float = 0.0) -> Slot | str:
        """A slot for a request of ``key`` (an invite), or why there is none: "key" at once when the
        invite already has ``per_key`` requests served or waiting, "total" when no slot came free
        within ``wait`` seconds."""
        with self._changed:
            if self._per_key[key] >= per_key:
                return "key"
            self._per_key[key] += 1
            deadline = time.monotonic() + wait
            self._waiting += 1
            try:
                while self._total >= total:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._leave(key)
                        return "total"
                    self._changed.wait(left)
            finally:
                self._waiting -= 1
            self._total += 1
            return Slot(self, key)

    def _leave(self, key: str) -> None:
        self._per_key[key] -= 1
        if not self._per_key[key]:
            del self._per_key[key]

    def in_use(self) -> tuple[int, dict[str, int]]:
        """Slots taken, and each invite's requests served or waiting."""
        with self._changed:
            return self._total, dict(self._per_key)

    def waiting(self) -> int:
        with self._changed:
            return self._waiting


# The web process's own: every thread of it shares these counts.
GIT_SLOTS = GitSlots()
