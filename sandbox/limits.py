"""What a run may use, and the names of the limits that can fire."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Limit(enum.StrEnum):
    """A limit that fired during a run (``Result.limit`` / ``Result.limits_hit``)."""

    WALL_TIME = "wall_time"
    CPU_TIME = "cpu_time"
    MEMORY = "memory"
    PROCESSES = "processes"
    FILE_SIZE = "file_size"
    DISK = "disk"
    OUTPUT = "output"


# When several limits fired, ``Result.limit`` names the one that most likely ended the run:
# a run killed on the wall clock may also have filled its disk on the way, but the wall clock
# is what stopped it.
LIMIT_PRIORITY: tuple[Limit, ...] = (
    Limit.WALL_TIME,
    Limit.CPU_TIME,
    Limit.MEMORY,
    Limit.PROCESSES,
    Limit.FILE_SIZE,
    Limit.DISK,
    Limit.OUTPUT,
)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Hard limits for one run. Sizes are in bytes, times in seconds.

    - ``wall_time``: real time from the moment the command starts; everything is killed then.
    - ``cpu_time``: CPU seconds summed over every process of the run (cgroup accounting, polled),
      backed by RLIMIT_CPU on each single process.
    - ``memory``: resident memory of the whole run, tmpfs pages written by it included.
    - ``processes``: tasks (processes and threads) alive at once.
    - ``file_size``: the largest single file the run may write (RLIMIT_FSIZE).
    - ``disk``: size of the work directory (a tmpfs of this size), all files together.
    - ``tmp``: size of the private /tmp and of /dev/shm (each).
    - ``output``: bytes kept of stdout and of stderr (each); the rest is read and dropped.
    - ``open_files``: RLIMIT_NOFILE.
    - ``cpus``: CPU bandwidth in cores (cgroup CPU quota), or None for no quota.
    - ``copy_back_files``: most entries copied into the work directory (more is refused) and back
      out of it afterwards (the rest is skipped).
    """

    wall_time: float = 60.0
    cpu_time: float = 60.0
    memory: int = 512 * MiB
    processes: int = 64
    file_size: int = 64 * MiB
    disk: int = 128 * MiB
    tmp: int = 64 * MiB
    output: int = 1 * MiB
    open_files: int = 1024
    cpus: float | None = 1.0
    copy_back_files: int = 10_000

    def __post_init__(self) -> None:
        for name in ("wall_time", "cpu_time"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive number of seconds, not {value!r}")
        for name in ("memory", "processes", "file_size", "disk", "tmp", "output", "open_files", "copy_back_files"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")
        if self.cpus is not None and not (isinstance(self.cpus, int | float) and self.cpus > 0):
            raise ValueError(f"Limits.cpus must be a positive number of cores or None, not {self.cpus!r}")
        if self.memory < 16 * MiB:
            # Below this even the dynamic loader and a shell fail in confusing ways.
            raise ValueError("Limits.memory must be at least 16 MiB")
