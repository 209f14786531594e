"""``run()``: one command over one directory under hard limits, returning a ``Result``.

How a run goes (each step says why in the code below):

1. take a slot (its own unprivileged uid) and create the run's cgroups;
2. fork; the child joins the cgroups, sets rlimits, drops to the slot uid and execs bwrap;
3. bwrap builds the sandbox and waits on a pipe; the host copies the work directory into the
   sandbox's size-capped /work tmpfs through /proc/<pid>/root, keeping a directory fd on it;
4. the host releases bwrap, which execs the command; the supervisor reads capped output and
   enforces wall-clock and CPU time;
5. everything of the run is killed and checked gone, the limit counters are read, and the
   regular files of /work are copied back into the caller's directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import re
import resource
import secrets
import selectors
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from . import bwrap as bw
from .cgroups import CgroupPlan, RunCgroups, create_run_cgroups, plan_cgroups, remove_stale
from .config import SandboxConfig
from .errors import SandboxError, SandboxSetupError, SandboxUnavailable
from .files import CopyOut, copy_in, copy_out, largest_file
from .limits import LIMIT_PRIORITY, Limit, Limits
from .mounts import RuntimeBind, bind_directory, enter_private_mount_namespace, plan_runtime_bind
from .result import Result
from .runtime import Runtime
from .seccomp import denied_syscalls, filter_program
from .slots import Slot, acquire_slot, kill_uid, processes_of_uid, signal_uid

log = logging.getLogger("sandbox")

# bwrap's own process in the run: the outer monitor (the command is the namespace's init).
BWRAP_TASKS = 1
_TICK = 0.05  # how often CPU time and the clock are checked, seconds
# How often the run's tasks' waits for a CPU are read (each reading costs a file per task).
_WAIT_SAMPLE = 0.1
# The selector's tag of the descriptor that wakes supervise() when it is told to stop.
_WAKE = object()
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_host_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Log a missing mechanism once per process; every Result still reports it."""
    with _host_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning(message)


_bwrap_info: dict[str, bw.BwrapInfo] = {}
_plans: dict[tuple[str, str | None], CgroupPlan] = {}


def _host(config: SandboxConfig) -> tuple[bw.BwrapInfo, CgroupPlan]:
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the sandbox must be started by root: each run drops to its own unprivileged uid "
            "(setuid needs root) and is placed in cgroups only root may create. Run the worker as "
            "root (in its container); the sandboxed code itself never runs as root."
        )
    with _host_lock:
        info = _bwrap_info.get(config.bwrap)
        if info is None:
            info = bw.locate(config.bwrap)
            _bwrap_info[config.bwrap] = info
        key = (config.cgroups, str(config.cgroup_v2_parent) if config.cgroup_v2_parent else None)
        plan = _plans.get(key)
        if plan is None:
            plan = plan_cgroups(config)
            _plans[key] = plan
            # Informational: what a missing controller costs is reported per run, in mechanisms.
            for note in plan.notes:
                log.info("sandbox cgroups: %s", note)
    return info, plan


class Service(Protocol):
    """Something started beside the command in its sandbox (sandbox/services.py: PostgreSQL).

    ``install`` runs on the host before the command starts (the files it needs into /work, as the
    slot uid), ``wrap`` gives the command line that starts it and then execs the command, ``env``
    what the command needs to find it, and ``remove`` takes its files out of /work once every
    process of the run is dead, before the copy back.
    """

    def env(self) -> dict[str, str]: ...

    def wrap(self, argv: list[str]) -> list[str]: ...

    def install(self, work_fd: int, *, uid: int, gid: int) -> None: ...

    def remove(self, work_fd: int) -> None: ...


T = TypeVar("T")


def _set(value: T | None, what: str) -> T:
    """Narrow an attribute that a previous step must have set (explicit, unlike assert, so it
    also holds under ``python -O``)."""
    if value is None:
        raise SandboxError(f"sandbox run used out of order: {what} is not set")
    return value


def _memfd(name: str, data: bytes) -> int:
    """A sealed, read-only-in-effect memory file holding ``data``, positioned at 0."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
    return fd


class _ChildSetup:
    """Runs in the forked child before exec'ing bwrap: cgroups, rlimits, the runtime's bind (if
    the slot uid could not reach it otherwise), then the slot uid.

    Order matters: joining a cgroup, setting rlimits and mounting need root, and once the uid is
    dropped the hard limits cannot be raised again (raising needs CAP_SYS_RESOURCE in the host's
    user namespace, which nothing in the sandbox has). Any failure raises, so subprocess reports
    it and nothing runs outside its limits.
    """

    def __init__(
        self,
        *,
        procs_files: list[str],
        rlimits: list[tuple[int, int, int]],
        uid: int,
        gid: int,
        runtime: RuntimeBind | None = None,
        error_fd: int | None = None,
    ) -> None:
        self.procs_files = procs_files
        self.rlimits = rlimits
        self.uid = uid
        self.gid = gid
        self.bind: tuple[bytes, bytes, tuple[int, int]] | None = None
        if runtime is not None and runtime.mountpoint is not None:
            self.bind = (runtime.path.encode(), runtime.mountpoint.encode(), runtime.identity)
        # subprocess reports only "Exception occurred in preexec_fn"; the child says what on this pipe.
        self.error_fd = error_fd

    def __call__(self) -> None:
        try:
            self._setup()
        except BaseException as exc:
            if self.error_fd is not None:
                os.write(self.error_fd, str(exc).encode(errors="replace")[:2000])
            raise

    def _setup(self) -> None:
        for path in self.procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0" moves the writing process itself
            finally:
                os.close(fd)
        for which, soft, hard in self.rlimits:
            resource.setrlimit(which, (soft, hard))
        if self.bind is not None:
            # See mounts.py: only this process and bwrap see the bind, the host never does.
            source, target, identity = self.bind
            enter_private_mount_namespace()
            bind_directory(source, target, identity=identity)
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)


class _WaitTally:
    """Seconds the run was held back waiting for a CPU that other work held.

    Read from each task's /proc/<tid>/schedstat (its run delay) at every sample: in each slice
    between two samples the run counts as held back for as long as its most delayed task waited,
    at most the slice. The longest and not the sum, because tasks waiting side by side (a fork
    loop, a thread pool) are held back at the same time. None where nothing is readable. Waiting
    on the run's own CPU quota (``Limits.cpus``) counts too: a run that uses its quota is judged by
    its CPU time.
    """

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self._sampled_at: float | None = None
        self.seconds: float | None = None

    def sample(self, tids: set[int], *, since: float) -> None:
        now = time.monotonic()
        readings: dict[int, int] = {}
        for tid in tids:
            try:
                with open(f"/proc/{tid}/schedstat", encoding="ascii") as handle:
                    readings[tid] = int(handle.read().split()[1])
            except (OSError, ValueError, IndexError):
                continue
        longest = 0
        for tid, waited in readings.items():
            last = self._last.get(tid, 0)
            longest = max(longest, waited - (last if last <= waited else 0))  # a smaller one: a new task
        self._last = readings
        if readings:
            held = min(longest / 1e9, now - (self._sampled_at if self._sampled_at is not None else since))
            self.seconds = (self.seconds or 0.0) + max(held, 0.0)
        self._sampled_at = now


class _Capped:
    """Keeps the first ``cap`` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, str | bytes) or not argv:
        raise ValueError("argv must be a non-empty list of strings")
    out = list(argv)
    for arg in out:
        if not isinstance(arg, str) or "\0" in arg:
            raise ValueError(f"argv items must be strings without NUL bytes, not {arg!r}")
    return out


def _check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in (env or {}).items():
        if not _ENV_NAME.match(key) or not isinstance(value, str) or "\0" in value:
            raise ValueError(f"invalid environment variable {key!r}")
        checked[key] = value
    return checked


def _check_workdir(workdir: Path) -> Path:
    path = Path(workdir)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ValueError(f"work directory {path} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"work directory {path} is not a directory (symlinks are refused)")
    return path.absolute()


def default_env(runtime: Runtime | None) -> dict[str, str]:
    """The environment of sandboxed code before the caller's additions (the host's is cleared)."""
    path = "/usr/local/bin:/usr/bin:/bin"
    env = {
        "PATH": f"{bw.RUNTIME}/bin:{path}" if runtime else path,
        # Paths inside the sandbox, where /tmp is private to the run.
        "HOME": "/tmp",  # noqa: S108
        "TMPDIR": "/tmp",  # noqa: S108
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        # No __pycache__ litter in the work directory that is copied back. (Not PYTHONPYCACHEPREFIX:
        # with it Python would also ignore the runtime's and the system's precompiled bytecode.)
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if runtime:
        env["VIRTUAL_ENV"] = bw.RUNTIME
    return env


class SandboxRun:
    """One sandboxed process: ``start()``, ``supervise()``, ``finish()``. ``run()`` and ``serve()``
    drive it; it is not meant to be used directly."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        workdir: Path,
        runtime: Runtime | None,
        limits: Limits,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
        config: SandboxConfig | None,
        copy_back: bool,
        services: Sequence[Service] = (),
    ) -> None:
        self.argv = _check_argv(argv)
        self.services = tuple(services)
        for service in reversed(self.services):
            self.argv = service.wrap(self.argv)  # the first service starts first
        self.workdir = _check_workdir(workdir)
        self.runtime = runtime
        self.limits = limits
        service_env = {key: value for service in self.services for key, value in service.env().items()}
        self.env = {**default_env(runtime), **_check_env(service_env), **_check_env(env)}
        self.stdin = stdin
        self.config = config or SandboxConfig.from_env()
        self.copy_back = copy_back
        self._stack = contextlib.ExitStack()
        self._fds: list[int] = []
        self.slot: Slot | None = None
        self.cgroups: RunCgroups | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.pid1: int | None = None
        self.pid1_fd: int | None = None
        self.work_fd: int | None = None
        self.tmp_fd: int | None = None
        self.mechanisms: dict[str, str] = {}
        self.hits: set[Limit] = set()
        self.stdout = _Capped(limits.output)
        self.stderr = _Capped(limits.output)
        self.status: int | None = None
        self.rusage: resource.struct_rusage | None = None
        self.waits = _WaitTally()
        self.killed = False
        self._verified_clean = False  # finish() checked that nothing of the run is left
        self.stop_grace = 1.0  # serving mode: seconds between SIGTERM and SIGKILL
        self.stopped = False  # serving mode: ended by the caller's stop while it still ran
        self.t_begin = time.monotonic()
        self.t_started: float | None = None
        self.t_ended: float | None = None

    # -- setup -----------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self._abort()
            raise

    def _start(self) -> None:
        info, plan = _host(self.config)
        runtime: RuntimeBind | None = None
        if self.runtime is not None:
            if not self.runtime.path.is_dir():
                raise SandboxSetupError(f"runtime {self.runtime.path} does not exist; build it first")
            # Opened by root, so the runtime's parents (the portal's data directory) may stay
            # closed to the slot uid that runs bwrap; mounts.py says how bwrap gets it then.
            fd = self._keep(os.open(self.runtime.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            runtime = plan_runtime_bind(fd, state_dir=self.config.state_dir)
        self.slot = slot = self._stack.enter_context(acquire_slot(self.config))
        bw.probe_userns(info, uid=slot.uid, gid=slot.gid)
        # Named by the slot's uid, which is unique on the host even across sandbox
        # configurations sharing the cgroup parent (a slot index is not): only cgroups
        # of a run that held this very slot before can be stale.
        remove_stale(plan, prefix=f"run-{slot.uid}-")
        token = secrets.token_hex(8)
        self.cgroups = cg = create_run_cgroups(
            plan,
            name=f"run-{slot.uid}-{token}",
            memory=self.limits.memory,
            processes=self.limits.processes + BWRAP_TASKS,
            cpus=self.limits.cpus,
        )
        rlimits = self._rlimits(cg)
        self._describe_mechanisms(info, cg)

        info_r, info_w = self._pipe()
        block_r, block_w = self._pipe()
        etc_fds = {path: self._keep(_memfd(Path(path).name, text.encode())) for path, text in bw.SYNTHETIC_ETC.items()}
        program = filter_program() if self.config.seccomp else None
        seccomp_fd = self._keep(_memfd("seccomp", program)) if program else None
        # bwrap gets the runtime's descriptor only when it can use it; a runtime out of the slot
        # uid's reach is bound by the child (before it drops root) and handed over by path.
        runtime_fd = runtime.fd if runtime is not None and runtime.mountpoint is None else None
        runtime_path = runtime.mountpoint if runtime is not None else None
        stdin: int = subprocess.DEVNULL
        if self.stdin is not None:
            stdin = self._keep(_memfd("stdin", self.stdin))
        marker = f"/.sandbox-ready-{token}"
        argv = bw.build_argv(
            bwrap=info.path,
            argv=self.argv,
            env=self.env,
            ready_marker=marker,
            info_fd=info_w,
            block_fd=block_r,
            etc_fds=etc_fds,
            seccomp_fd=seccomp_fd,
            runtime_fd=runtime_fd,
            runtime_path=runtime_path,
            disk=self.limits.disk,
            tmp=self.limits.tmp,
        )
        pass_fds = [info_w, block_r, *etc_fds.values()]
        pass_fds += [fd for fd in (seccomp_fd, runtime_fd) if fd is not None]
        error_r, error_w = self._pipe()
        setup = _ChildSetup(
            procs_files=cg.procs_files, rlimits=rlimits, uid=slot.uid, gid=slot.gid, runtime=runtime, error_fd=error_w
        )
        try:
            self.popen = self._spawn(argv, stdin, pass_fds, setup)
        except (OSError, subprocess.SubprocessError) as exc:
            # Includes a failure in _ChildSetup (joining a cgroup, binding the runtime, dropping
            # the uid): nothing ran.
            self._close(error_w)
            os.set_blocking(error_r, False)
            said = ""
            with contextlib.suppress(BlockingIOError):
                said = os.read(error_r, 4096).decode(errors="replace")
            raise SandboxSetupError(f"could not start bwrap: {exc}{f' ({said})' if said else ''}") from exc
        self._close(error_w)
        self._close(error_r)
        for fd in pass_fds:
            self._close(fd)
        if stdin != subprocess.DEVNULL:
            self._close(stdin)
        self.pid1 = self._read_child_pid(info_r)
        # A pidfd signals exactly this process even if it exits and its number is reused.
        self.pid1_fd = self._keep(os.pidfd_open(self.pid1))
        self._wait_ready(marker)
        self.work_fd = self._keep(os.open(f"/proc/{self.pid1}/root/work", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
        self.tmp_fd = self._keep(os.open(f"/proc/{self.pid1}/root/tmp", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
        vfs = os.fstatvfs(self.work_fd)
        if abs(vfs.f_blocks * vfs.f_frsize - self.limits.disk) >= max(vfs.f_frsize, 4096):
            # Not the tmpfs we asked for: refuse rather than copy anything anywhere else.
            raise SandboxSetupError("the sandbox's /work is not the size-capped tmpfs it should be")
        copy_in(self.workdir, self.work_fd, uid=slot.uid, gid=slot.gid, max_entries=self.limits.copy_back_files)
        for service in self.services:
            service.install(self.work_fd, uid=slot.uid, gid=slot.gid)
        os.write(block_w, b"1")
        self._close(block_w)
        self.t_started = time.monotonic()

    @staticmethod
    def _spawn(argv: list[str], stdin: int, pass_fds: list[int], setup: _ChildSetup) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            preexec_fn=setup,  # the cgroup join, rlimits and uid drop must happen in the child
            start_new_session=True,  # bwrap leads its own session and process group
            cwd="/",
            env={},
        )

    def _rlimits(self, cg: RunCgroups) -> list[tuple[int, int, int]]:
        limits = self.limits
        cpu = math.ceil(limits.cpu_time)
        if "cpu_accounting" in cg.mechanisms:
            cpu += 1  # the polled cgroup total should fire first and be reported as such
        nproc = limits.processes + BWRAP_TASKS
        if "processes" in cg.mechanisms:
            # A little above pids.max: the cgroup counts its hits in pids.events, so the limit is
            # reported when it fires; RLIMIT_NPROC stays as the backstop, which counts silently.
            nproc += 4
        rlimits = [
            (resource.RLIMIT_NPROC, nproc, nproc),
            (resource.RLIMIT_FSIZE, limits.file_size, limits.file_size),
            (resource.RLIMIT_CPU, cpu, cpu + 1),
            (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
            # 1, not 0: the kernel skips pipe core handlers (core_pattern "|...", run as root on
            # the host) only for a limit of exactly 1, and 1 byte is too small for any core file.
            (resource.RLIMIT_CORE, 1, 1),
        ]
        if "memory" not in cg.mechanisms:
            rlimits.append((resource.RLIMIT_AS, limits.memory, limits.memory))
        return rlimits

    def _describe_mechanisms(self, info: bw.BwrapInfo, cg: RunCgroups) -> None:
        uid = _set(self.slot, "slot").uid
        m = self.mechanisms
        m["isolation"] = (
            f"bwrap:{'.'.join(map(str, info.version))} user+pid+net+ipc+uts+mount namespaces, "
            f"no capabilities, host uid {uid}"
        )
        m["wall_time"] = "supervisor:timer, then kill"
        if "cpu_accounting" in cg.mechanisms:
            m["cpu_time"] = f"{cg.mechanisms['cpu_accounting']} (all processes, polled) + rlimit:RLIMIT_CPU"
        else:
            m["cpu_time"] = (
                "rlimit:RLIMIT_CPU (each process alone: no cgroup CPU accounting, the total is NOT enforced)"
            )
            _warn_once("sandbox: no cgroup CPU accounting here, CPU time is limited per process only")
        if "memory" in cg.mechanisms:
            m["memory"] = cg.mechanisms["memory"]
        else:
            m["memory"] = "rlimit:RLIMIT_AS (each process alone: no memory cgroup, the total is NOT enforced)"
            _warn_once("sandbox: no memory cgroup here, falling back to RLIMIT_AS per process")
        pids = cg.mechanisms.get("processes")
        m["processes"] = f"{pids} + rlimit:RLIMIT_NPROC (uid {uid})" if pids else f"rlimit:RLIMIT_NPROC (uid {uid})"
        if not pids:
            _warn_once("sandbox: no pids cgroup here, processes are limited by RLIMIT_NPROC alone")
        m["file_size"] = "rlimit:RLIMIT_FSIZE"
        m["disk"] = f"tmpfs:/work size={self.limits.disk}, /tmp and /dev/shm size={self.limits.tmp}"
        m["output"] = "supervisor:pipe, rest read and dropped"
        if self.limits.cpus is None:
            m["cpus"] = "none:not requested"
        else:
            m["cpus"] = cg.mechanisms.get("cpus", "none:no cpu controller here, CPU share NOT limited")
        kills = ["bwrap:pid namespace", f"supervisor:kill(-1) as uid {uid}"]
        if "kill" in cg.mechanisms:
            kills.insert(1, cg.mechanisms["kill"])
        elif cg.dirs:
            kills.insert(1, "cgroup-v1:cgroup.procs")
        m["kill"] = " + ".join(kills)
        if self.config.seccomp and filter_program() is not None:
            m["seccomp"] = f"seccomp:denies {', '.join(denied_syscalls())}"
        else:
            m["seccomp"] = "none:turned off" if not self.config.seccomp else "none:no syscall table for this machine"

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        return self._keep(r), self._keep(w)

    def _keep(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    def _close(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.remove(fd)
            os.close(fd)

    def _bwrap_failed(self, what: str) -> SandboxSetupError:
        popen = _set(self.popen, "popen")
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
        said = b""
        if popen.returncode is not None and popen.stderr is not None:
            said = popen.stderr.read(4096)
        text = said.decode(errors="replace").strip() or "nothing"
        if "Can't find source path" in text and self.slot is not None:
            # bwrap looks bind sources up as the slot uid (mounts.py); the mode check missed a denial.
            text += (
                f"; uid {self.slot.uid} cannot reach a directory bwrap binds (an ACL or security module "
                f"denying it?): see 'Runtimes' in docs/sandbox.md"
            )
        return SandboxSetupError(f"{what} (bwrap said: {text})")

    def _read_child_pid(self, info_r: int) -> int:
        data = b""
        deadline = time.monotonic() + 10
        with selectors.DefaultSelector() as sel:
            sel.register(info_r, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(info_r, 4096)
                if not chunk:
                    break
                data += chunk
        self._close(info_r)
        match = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
        if not match:
            raise self._bwrap_failed("bwrap did not start")
        return int(match.group(1))

    def _wait_ready(self, marker: str) -> None:
        popen = _set(self.popen, "popen")
        deadline = time.monotonic() + 10
        delay = 0.0002
        while not os.path.lexists(f"/proc/{self.pid1}/root{marker}"):
            if popen.poll() is not None:
                raise self._bwrap_failed("bwrap failed while building the sandbox")
            if time.monotonic() > deadline:
                raise SandboxSetupError("bwrap did not finish building the sandbox within 10s")
            time.sleep(delay)
            delay = min(delay * 2, 0.001)

    # -- running ---------------------------------------------------------------------------

    def cpu_seconds(self) -> float | None:
        """CPU seconds every process of the run has used so far (cgroup accounting; None without it)."""
        cgroups = self.cgroups
        return cgroups.cpu_seconds() if cgroups is not None else None

    def cpu_wait_seconds(self) -> float | None:
        """Seconds the run's tasks have waited so far for a CPU held by others (as last sampled; None
        where the kernel does not say)."""
        return self.waits.seconds

    def _tasks(self) -> set[int]:
        """Every task (thread) of the run: from its cgroups, else from the processes of its uid."""
        cgroups = self.cgroups
        tids: set[int] = set()
        for directory in cgroups.dirs if cgroups is not None else ():
            # cgroup v2 lists threads in cgroup.threads, v1 in tasks.
            name = "cgroup.threads" if directory == cgroups.v2_dir else "tasks"
            with contextlib.suppress(OSError, ValueError):
                tids.update(int(tid) for tid in (directory / name).read_text().split())
            if tids:
                return tids
        for pid in processes_of_uid(_set(self.slot, "slot").uid):
            with contextlib.suppress(OSError, ValueError):
                tids.update(int(tid) for tid in os.listdir(f"/proc/{pid}/task"))
        return tids

    def supervise(self, *, stop: threading.Event | None = None, wake_fd: int | None = None) -> None:
        """Read output and enforce the clock and CPU time until the command ends or is killed.

        Once ``stop`` is set, the command gets SIGTERM and, ``stop_grace`` seconds later, the run
        is killed (at once with a grace of 0). ``wake_fd``, readable when ``stop`` is set, has the
        stop seen at once rather than at the next tick."""
        popen = _set(self.popen, "popen")
        stdout, stderr = _set(popen.stdout, "stdout"), _set(popen.stderr, "stderr")
        deadline = _set(self.t_started, "start time") + self.limits.wall_time
        pidfd = os.pidfd_open(popen.pid)
        stop_deadline: float | None = None
        next_sample = 0.0
        with selectors.DefaultSelector() as sel:
            sel.register(stdout.fileno(), selectors.EVENT_READ, self.stdout)
            sel.register(stderr.fileno(), selectors.EVENT_READ, self.stderr)
            sel.register(pidfd, selectors.EVENT_READ, None)
            if wake_fd is not None:
                sel.register(wake_fd, selectors.EVENT_READ, _WAKE)
            try:
                exited = False
                while not exited:
                    now = time.monotonic()
                    if now >= deadline:
                        self.hits.add(Limit.WALL_TIME)
                        self.kill()
                        break
                    if stop is not None and stop.is_set():
                        self.stopped = True
                        if self.stop_grace <= 0:
                            self.kill()
                            break
                        if stop_deadline is None:
                            stop_deadline = now + self.stop_grace
                            self._terminate_command()
                        elif now >= stop_deadline:
                            self.kill()
                            break
                    timeout = min(_TICK, deadline - now)
                    if stop_deadline is not None:
                        timeout = max(0.0, min(timeout, stop_deadline - now))
                    for key, _ in sel.select(timeout=timeout):
                        if key.data is None:
                            exited = True
                        elif key.data is _WAKE:
                            sel.unregister(key.fd)  # stop is set now: the loop's top sees it
                        else:
                            self._read_into(sel, key.fd, key.data)
                    if time.monotonic() >= next_sample:
                        self.waits.sample(self._tasks(), since=_set(self.t_started, "start time"))
                        next_sample = time.monotonic() + _WAIT_SAMPLE
                    cpu = self.cgroups.cpu_seconds() if self.cgroups else None
                    if cpu is not None and cpu > self.limits.cpu_time:
                        self.hits.add(Limit.CPU_TIME)
                        self.kill()
                        break
                self.t_ended = time.monotonic()
                # Every writer is dead once bwrap's pid namespace is gone; read to EOF, bounded.
                drain_until = time.monotonic() + 2
                sel.unregister(pidfd)
                if wake_fd is not None and wake_fd in sel.get_map():
                    sel.unregister(wake_fd)
                while sel.get_map() and time.monotonic() < drain_until:
                    for key, _ in sel.select(timeout=0.1):
                        self._read_into(sel, key.fd, key.data)
            finally:
                os.close(pidfd)
        _, status, rusage = os.wait4(popen.pid, 0)
        popen.returncode = os.waitstatus_to_exitcode(status)
        self.status = status
        self.rusage = rusage

    @staticmethod
    def _read_into(sel: selectors.BaseSelector, fd: int, sink: _Capped) -> None:
        chunk = os.read(fd, 1 << 16)
        if chunk:
            sink.add(chunk)
        else:
            sel.unregister(fd)

    def _terminate_command(self) -> None:
        """SIGTERM the command (the sandbox's pid 1: delivered only if it handles SIGTERM)."""
        if self.pid1_fd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pid1_fd, signal.SIGTERM)

    def kill(self) -> None:
        """Kill every process of the run, however it detached itself.

        Where cgroup v2's cgroup.kill reached the run, the sweep of the slot uid (kill(-1) from a
        forked helper, a fork of the whole worker) is left to the teardown, which makes it only if
        a process of the uid is still there (``_finish``, ``_abort``).
        """
        self.killed = True
        by_cgroup = self.cgroups.kill() if self.cgroups is not None else False
        if self.slot is not None and not by_cgroup:
            signal_uid(self.slot.uid, self.slot.gid, signal.SIGKILL)
        if self.popen is not None and self.popen.returncode is None:
            # Only while bwrap is unreaped: afterwards its number may belong to someone else.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    # -- teardown --------------------------------------------------------------------------

    def finish(self) -> Result:
        t_teardown = time.monotonic()
        try:
            return self._finish(t_teardown)
        finally:
            self._abort()

    def _leftovers(self) -> set[int]:
        left = set(processes_of_uid(_set(self.slot, "slot").uid))
        if self.cgroups is not None:
            left |= self.cgroups.pids()
        return left

    def _finish(self, t_teardown: float) -> Result:
        slot, cg = _set(self.slot, "slot"), _set(self.cgroups, "cgroups")
        status = _set(self.status, "exit status")
        # The command's end (or the kill) takes the rest of the run with it; they take a moment to go.
        cg.wait_empty(timeout=1.0)
        left = self._leftovers()
        if left:
            self.kill()
            kill_uid(slot.uid, slot.gid, timeout=5)
            left = self._leftovers()
            if left:
                log.error("sandbox: processes %s of uid %s survived the run", sorted(left), slot.uid)
        self._verified_clean = not left

        exit_code: int | None = None
        sig: int | None = None
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
            if 128 < code <= 128 + 64:
                sig = code - 128  # bwrap's way of passing on "killed by signal N"
            else:
                exit_code = code

        if cg.oom_killed():
            self.hits.add(Limit.MEMORY)
        if cg.pids_limit_hit():
            self.hits.add(Limit.PROCESSES)
        if sig == signal.SIGXCPU:
            self.hits.add(Limit.CPU_TIME)
        if sig == signal.SIGXFSZ:
            self.hits.add(Limit.FILE_SIZE)
        if self.stdout.dropped or self.stderr.dropped:
            self.hits.add(Limit.OUTPUT)
        work_fd, tmp_fd = _set(self.work_fd, "work fd"), _set(self.tmp_fd, "tmp fd")
        for fd in (work_fd, tmp_fd):
            vfs = os.fstatvfs(fd)
            # tmpfs hands out whole pages: "full" is no free page, or no free inode.
            if vfs.f_bavail == 0 or vfs.f_favail == 0:
                self.hits.add(Limit.DISK)
        for service in self.services:
            service.remove(work_fd)

        copied = CopyOut()
        if self.copy_back:
            copied = copy_out(work_fd, self.workdir, max_files=self.limits.copy_back_files, max_bytes=self.limits.disk)
            biggest = copied.largest_file
        else:
            biggest = largest_file(work_fd, max_entries=self.limits.copy_back_files)
        biggest = max(biggest, largest_file(tmp_fd, max_entries=self.limits.copy_back_files))
        if biggest >= self.limits.file_size:
            self.hits.add(Limit.FILE_SIZE)

        cpu = cg.cpu_seconds()
        if cpu is None and self.rusage is not None:
            cpu = self.rusage.ru_utime + self.rusage.ru_stime
        # Only a memory cgroup measures the run's peak; ru_maxrss would be one process's.
        peak = cg.memory_peak()
        hits = tuple(limit for limit in LIMIT_PRIORITY if limit in self.hits)
        self._release_cgroups()
        started, ended = _set(self.t_started, "start time"), _set(self.t_ended, "end time")
        return Result(
            exit_code=exit_code,
            signal=sig,
            limit=hits[0] if hits else None,
            limits_hit=hits,
            stdout=bytes(self.stdout.data),
            stderr=bytes(self.stderr.data),
            stdout_truncated=self.stdout.dropped > 0,
            stderr_truncated=self.stderr.dropped > 0,
            wall_time=ended - started,
            setup_time=started - self.t_begin,
            teardown_time=time.monotonic() - t_teardown,
            cpu_time=cpu,
            cpu_wait=self.waits.seconds,
            memory_peak=peak,
            mechanisms=dict(self.mechanisms),
            slot=slot.index,
            uid=slot.uid,
            copied_back=copied.files,
            skipped=tuple(copied.skipped),
            skipped_count=copied.skipped_count,
            leftover_pids=tuple(sorted(left)),
            stopped=self.stopped,
        )

    def _release_cgroups(self) -> None:
        if self.cgroups is not None:
            busy = self.cgroups.remove()
            if busy:
                log.error("sandbox: cgroups %s are still busy and were left behind", busy)
            self.cgroups = None

    def _abort(self) -> None:
        """Release everything; kills whatever still runs. Safe to call more than once."""
        if self.popen is not None and self.popen.returncode is None:
            self.kill()
            with contextlib.suppress(ChildProcessError):
                _, status, _ = os.wait4(self.popen.pid, 0)
                self.popen.returncode = os.waitstatus_to_exitcode(status)
        if self.slot is not None and not self._verified_clean and processes_of_uid(self.slot.uid):
            kill_uid(self.slot.uid, self.slot.gid)
        for stream in (self.popen.stdout, self.popen.stderr) if self.popen is not None else ():
            if stream is not None:
                stream.close()
        for fd in list(self._fds):
            self._close(fd)
        self._release_cgroups()
        self._stack.close()


def run(
    *,
    argv: Sequence[str],
    workdir: Path,
    runtime: Runtime | None = None,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    config: SandboxConfig | None = None,
    copy_back: bool = True,
    services: Sequence[Service] = (),
) -> Result:
    """Run ``argv`` in a sandbox over a copy of ``workdir`` and return what happened.

    The command starts in /work, a tmpfs of ``limits.disk`` bytes holding a copy of ``workdir``;
    it is the only writable place besides a private /tmp. The runtime, if given, is mounted
    read-only at /runtime with its bin/ first on PATH. ``env`` adds to a minimal environment
    (nothing of the caller's is passed). ``stdin`` is fed to the command (default: empty).

    Afterwards, with ``copy_back``, ``workdir`` is replaced by the regular files and directories
    the run left in /work (never symlinks or special files; see ``Result.skipped``).

    Raises SandboxUnavailable when this host cannot sandbox, SandboxSetupError when this run
    could not be set up; what the command itself does is only ever reported in the Result.

    ``services`` (e.g. ``[PostgreSQL(template=...)]``, sandbox/services.py) are started in the
    same sandbox before the command, within its limits, and leave nothing behind.
    """
    sandbox = SandboxRun(
        argv=argv,
        workdir=workdir,
        runtime=runtime,
        limits=limits or Limits(),
        env=env,
        stdin=stdin,
        config=config,
        copy_back=copy_back,
        services=services,
    )
    sandbox.start()
    try:
        sandbox.supervise()
    except BaseException:
        sandbox._abort()
        raise
    return sandbox.finish()


__all__ = ["SandboxError", "SandboxRun", "Service", "default_env", "run"]
