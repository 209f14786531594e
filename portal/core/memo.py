"""``Memo``: the latest results of a pure function, by key, kept by one process.

For work every analysis would otherwise do again on what has not changed: git objects are named by
their content, so what is computed from commit ids alone stays true for ever. Bounded in entries and
in the text they hold (a candidate's commit subjects and test names are as long as they like): the
least recently used results go first, and a result too large to keep is computed every time.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_CONTAINERS = (tuple, list, set, frozenset)
# About what one Python object costs beside its text (a commit id is 40 characters and about 90 bytes).
OBJECT = 64


def weight(value: object) -> int:
    """About the bytes keeping ``value`` costs: the text of its strings and bytes (its containers'
    and dataclasses' too) and OBJECT per object."""
    if isinstance(value, str | bytes):
        return OBJECT + len(value)
    if isinstance(value, _CONTAINERS):
        return OBJECT + sum(weight(item) for item in value)
    if isinstance(value, dict):
        return OBJECT + sum(weight(key) + weight(item) for key, item in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return OBJECT + sum(weight(getattr(value, f.name)) for f in dataclasses.fields(value))
    return OBJECT


class Memo:
    def __init__(self, size: int, *, budget: int) -> None:
        self.size = size
        self.budget = budget
        self._kept: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        """The result kept for ``key``, else ``compute()``'s, kept unless it weighs more than a
        sixteenth of the budget (not under the lock: two threads asking at once may both compute
        it, and keep the same answer)."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key][0]  # type: ignore[return-value]
        value = compute()
        cost = weight(key) + weight(value)
        if cost > self.budget // 16:
            return value
        with self._lock:
            if key not in self._kept:
                self._kept[key] = (value, cost)
                self._held += cost
            while len(self._kept) > self.size or self._held > self.budget:
                _, (_, freed) = self._kept.popitem(last=False)
                self._held -= freed
        return value

    def entries(self) -> list[tuple]:
        """The keys kept, the least recently used first."""
        with self._lock:
            return list(self._kept)
