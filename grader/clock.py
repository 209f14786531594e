"""Time limits judged on the work a run did, never on how busy the host was.

A run on a shared host is slowed by its neighbours: its wall clock stretches, its CPU time does
not. So every limit of L seconds (an app's start-up, a run of the hidden suite) is judged on three
clocks:

- **CPU**: CPU seconds the run used, its own work. Past L, the run is over its limit.
- **own time**: the wall clock less the seconds the run was held back waiting for a CPU that other
  work held (from Linux's per-task schedstat run delay: in each slice between two readings, the
  longest wait of any of its tasks). An app that sleeps or blocks is stopped at L as before,
  whatever the load; a starved one is not. Where it is not measured, it is not used.
- **wall**: ``WALL_FACTOR`` times L of wall clock, the safety net that still ends anything stuck.

A run that only the wall clock stopped, while its CPU and own time stayed well below L
(``Usage.starved``), was starved by its neighbours: a verdict on the host, not on the code.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

# The wall clock's safety net, as a multiple of a limit: far enough that load alone does not reach it
# before the CPU or own-time clock would (two cores held by six busy loops slow a run about 4 times).
WALL_FACTOR = 5.0
# "Well below" a limit: a run stopped by the wall clock with less than this share of the limit used
# on its own clocks was starved.
WELL_BELOW = 0.5

CPU = "cpu"
OWN = "own"
WALL = "wall"


@dataclass(frozen=True)
class Usage:
    """What a run has used: wall-clock seconds, CPU seconds, seconds its tasks waited for a CPU.

    ``cpu`` and ``cpu_wait`` are None where they are not measured.
    """

    wall: float
    cpu: float | None = None
    cpu_wait: float | None = None

    @property
    def own(self) -> float | None:
        """The wall clock less the time spent held back waiting for a CPU (None if not measured)."""
        return None if self.cpu_wait is None else max(self.wall - self.cpu_wait, 0.0)

    def plus(self, other: Usage | None) -> Usage:
        """Two parts of one run over the same time (the grader and the app): CPU and waits add up."""
        if other is None:
            return self
        return Usage(
            wall=max(self.wall, other.wall),
            cpu=_add(self.cpu, other.cpu),
            cpu_wait=_add(self.cpu_wait, other.cpu_wait),
        )

    def since(self, earlier: Usage | None) -> Usage:
        """What was used after ``earlier`` (a reading of the same counters)."""
        if earlier is None:
            return self
        return Usage(
            wall=max(self.wall - earlier.wall, 0.0),
            cpu=_sub(self.cpu, earlier.cpu),
            cpu_wait=_sub(self.cpu_wait, earlier.cpu_wait),
        )

    def past(self, limit: float, *, wall_limit: float | None = None) -> str | None:
        """Which clock is past ``limit``: CPU, OWN, WALL (``wall_limit``, by default WALL_FACTOR times limit), or None.

        Where neither CPU nor own time is measured, the wall clock is judged at ``limit`` itself.
        """
        if self.cpu is not None and self.cpu > limit:
            return CPU
        own = self.own
        if own is not None and own > limit:
            return OWN
        if self.cpu is None and own is None:
            return WALL if self.wall > min(limit, wall_limit or limit) else None
        return WALL if self.wall > (WALL_FACTOR * limit if wall_limit is None else wall_limit) else None

    def starved(self, limit: float) -> bool:
        """Whether the run's own work stayed well below ``limit``: stopped by the wall clock, it was starved."""
        if self.cpu is None:
            return False
        own = self.own
        return self.cpu < WELL_BELOW * limit and (own is None or own < WELL_BELOW * limit)

    def starved_at(self, limit: float, *, wall_limit: float | None = None) -> bool:
        """Whether only the wall clock is past (``past``) and the run's own work stayed well below the
        limit, or below the wall limit where a deadline cut that shorter: its neighbours held it back."""
        net = WALL_FACTOR * limit if wall_limit is None else wall_limit
        return self.past(limit, wall_limit=wall_limit) == WALL and self.starved(min(limit, net))

    def describe(self) -> str:
        """The figures, for a report: "1.20 CPU s, 9.80 s wall of which 6.10 s waiting for a CPU"."""
        cpu = "CPU not measured" if self.cpu is None else f"{self.cpu:.2f} CPU s"
        wall = f"{self.wall:.2f} s wall"
        if self.cpu_wait is not None:
            wall += f" of which {min(self.cpu_wait, self.wall):.2f} s waiting for a CPU"
        return f"{cpu}, {wall}"

    def as_dict(self) -> dict[str, float | None]:
        return {"wall": self.wall, "cpu": self.cpu, "cpu_wait": self.cpu_wait}


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(a - b, 0.0)


class TaskClock:
    """CPU seconds, and seconds held back waiting for a CPU, of one process's threads.

    Read from /proc/<tid>/schedstat at every ``sample()``: CPU adds up over the threads; in each
    slice between two samples the process counts as held back for as long as its most delayed
    thread waited (at most the slice: threads waiting side by side are held back at the same
    time). Sample often: what a thread does after its last sample is missed. For the trusted
    pytest of the hidden tests and for LocalRunner's app (authoring).

    The CPU is never less than the kernel's total for the process (/proc/<pid>/stat, to the clock
    tick), which keeps threads that ended between two samples, such as an app's thread per request,
    that the threads' own readings miss; with ``descendants``, the processes it started are in that
    total too (a scan of /proc at each sample: for an app, whose workers are its children).
    """

    def __init__(self, pid: int, *, descendants: bool = False) -> None:
        self.pid = pid
        self.descendants = descendants
        self._last: dict[int, tuple[int, int]] = {}
        self._ran = 0
        self._held = 0.0
        self._total = 0.0  # the process tree's CPU seconds by its stat totals, at the last sample
        self._sampled_at = time.monotonic()
        self.measured = False

    def sample(self) -> None:
        now = time.monotonic()
        try:
            tids = [int(name) for name in os.listdir(f"/proc/{self.pid}/task")]
        except (OSError, ValueError):
            return
        readings = {tid: reading for tid in tids if (reading := _schedstat(tid)) is not None}
        longest = 0
        for tid, (ran, waited) in readings.items():
            last = self._last.get(tid, (0, 0))
            if ran < last[0]:  # the thread id was used again
                last = (0, 0)
            self._ran += ran - last[0]
            longest = max(longest, waited - last[1])
        self._last = readings
        self._total = max(self._total, _tree_cpu(self.pid) if self.descendants else _own_cpu(self.pid))
        if readings:
            self.measured = True
            self._held += max(min(longest / 1e9, now - self._sampled_at), 0.0)
        self._sampled_at = now

    def usage(self, wall: float) -> Usage:
        """What the process's threads used, as of the last sample, over ``wall`` seconds."""
        if not self.measured:
            return Usage(wall=wall)
        return Usage(wall=wall, cpu=max(self._ran / 1e9, self._total), cpu_wait=self._held)


def _schedstat(tid: int) -> tuple[int, int] | None:
    """(nanoseconds on a CPU, nanoseconds waiting for one) of a thread; None if not readable."""
    try:
        with open(f"/proc/{tid}/schedstat", encoding="ascii") as handle:
            ran, waited, _slices = handle.read().split()
        return int(ran), int(waited)
    except (OSError, ValueError):
        return None


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its threads and descendants, ended ones included, by /proc/<pid>/stat.

    Each process's utime and stime keep its ended threads; cutime and cstime its children that were
    waited for; the descendants still running are found by their parent ids. To the clock tick.
    """
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, clock ticks of CPU)
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            stats[int(name)] = stat
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current in stats and current not in tree:
            tree.add(current)
            todo.extend(child for child, (parent, _) in stats.items() if parent == current)
    return sum(stats[member][1] for member in tree) / os.sysconf("SC_CLK_TCK")


def _own_cpu(pid: int) -> float:
    """CPU seconds of a process, its threads (ended ones included) and its children waited for."""
    stat = _stat(pid)
    return stat[1] / os.sysconf("SC_CLK_TCK") if stat is not None else 0.0


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime + cutime + cstime in clock ticks) of a process; None if not readable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[1]), sum(int(value) for value in fields[11:15])
    except (OSError, ValueError, IndexError):
        return None
