"""The structured outcome of a sandboxed run."""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass, field

from .limits import Limit


@dataclass(frozen=True, kw_only=True)
class Result:
    """What happened in one run.

    - ``exit_code``: the command's exit status, or None when a signal ended it.
    - ``signal``: the signal that ended the command (or, after a kill by the supervisor, SIGKILL).
      bwrap reports a command killed by signal N as status 128+N; statuses 129-192 are read as
      signals, so a program that calls exit(139) is reported as SIGSEGV.
    - ``limit``: the limit that ended or broke the run (highest in ``LIMIT_PRIORITY`` among those
      that fired), None if none did; ``limits_hit`` lists every limit that fired.
    - ``stdout``/``stderr``: at most ``Limits.output`` bytes each; ``*_truncated`` when more came.
    - ``wall_time``: seconds from exec of the command to its end; ``setup_time`` covers slot,
      cgroups, bwrap start and copying the work directory in; ``teardown_time`` covers killing,
      checks and copying back.
    - ``cpu_time``: CPU seconds of all processes of the run (cgroup accounting, else rusage).
    - ``cpu_wait``: seconds the run was held back waiting for a CPU held by others (from its tasks'
      schedstat run delay, sampled; None where the kernel does not say): about how much a busy
      host stretched ``wall_time``.
    - ``memory_peak``: highest memory use in bytes where a memory cgroup measured it.
    - ``mechanisms``: for each limit (and for "kill", "isolation", "seccomp"), what enforced it,
      as "<kind>:<detail>", kind being cgroup-v1, cgroup-v2, rlimit, tmpfs, supervisor, bwrap,
      seccomp or "none" (then the limit was NOT enforced on this host, and says why).
    - ``copied_back``/``skipped``: how many entries were copied back into the work directory, and
      what was left out (symlinks, special files, hard-link duplicates, over budget): the first
      100 notes, ``skipped_count`` counting them all.
    - ``leftover_pids``: processes of the run still alive after teardown; always empty unless
      containment failed (it is also logged as an error).
    - ``stopped``: a served command (serve.Server) ended because its caller stopped it while it
      still ran: its ``signal`` is then the stop's (SIGKILL, or SIGTERM with a grace), not its own.
    """

    exit_code: int | None
    signal: int | None
    limit: Limit | None
    limits_hit: tuple[Limit, ...]
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_time: float
    setup_time: float
    teardown_time: float
    cpu_time: float | None
    memory_peak: int | None
    cpu_wait: float | None = None
    mechanisms: dict[str, str] = field(default_factory=dict)
    slot: int = -1
    uid: int = -1
    copied_back: int = 0
    skipped: tuple[str, ...] = ()
    skipped_count: int = 0
    leftover_pids: tuple[int, ...] = ()
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """The command exited 0 and no limit fired."""
        return self.exit_code == 0 and self.limit is None

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return _signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"

    def describe(self) -> str:
        """One line for logs and for a candidate-facing summary."""
        how = f"exit {self.exit_code}" if self.signal is None else f"killed by {self.signal_name}"
        if self.limit is not None:
            how += f", {self.limit.value.replace('_', ' ')} limit"
        return f"{how} after {self.wall_time:.2f}s"
