"""``Memo``: the latest results of a pure function, by key, kept by one process.

For work every analysis would otherwise do again on what has not changed: git objects are named by
their content, so what is computed from commit ids alone stays true for ever. Bounded: the least
recently used results go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Memo:
    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        """The result kept for ``key``, else ``compute()``'s, kept (not under the lock: two threads
        asking at once may both compute it, and keep the same answer)."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def entries(self) -> list[tuple]:
        """The keys kept, the least recently used first."""
        with self._lock:
            return list(self._kept)
