"""How many git requests this web process serves at once: in all, and per invite.

A clone or push holds one of gunicorn's threads for as long as it lasts. Without a cap, a few
candidates (or one, opening many connections) could hold every thread, and the pages and
/healthz would wait behind them. The counts are per process, like the threads they protect
(settings.PORTAL_GIT_MAX_REQUESTS below WEB_THREADS). A slot is released when the response is
closed, which the WSGI server always does, even when the client went away.
"""

from __future__ import annotations

import threading
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
        with self.slots._lock:
            if self._released:
                return
            self._released = True
            self.slots._total -= 1
            self.slots._per_key[self.key] -= 1
            if not self.slots._per_key[self.key]:
                del self.slots._per_key[self.key]


class GitSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._per_key: Counter[str] = Counter()

    def take(self, key: str, *, total: int, per_key: int) -> Slot | str:
        """A slot for a request of ``key`` (an invite), or why there is none: "total" or "key"."""
        with self._lock:
            if self._per_key[key] >= per_key:
                return "key"
            if self._total >= total:
                return "total"
            self._total += 1
            self._per_key[key] += 1
            return Slot(self, key)

    def in_use(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            return self._total, dict(self._per_key)


# The web process's own: every thread of it shares these counts.
GIT_SLOTS = GitSlots()
