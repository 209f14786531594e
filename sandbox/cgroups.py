"""Per-run cgroups on cgroup v1, v2 or a hybrid of both, using whatever the host offers.

Each controller is taken from the hierarchy that can actually enforce it here (v2 when the
controller is enabled for our parent there, else v1), and every limit reports the file that
enforces it, so a host without a controller shows up in ``Result.mechanisms`` instead of
silently running without the limit.

v1 run cgroups are created below the caller's own cgroup so a container's own limits still
apply to the sandboxes it starts. On v2, a cgroup that holds processes cannot hand controllers
to children (the "no internal processes" rule), so full v2 enforcement needs a delegated
parent without processes (``PORTAL_SANDBOX_CGROUP``; docs/sandbox.md shows how).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import SandboxConfig

PARENT_NAME = "portal-sandbox"
_V2_CONTROLLERS = ("pids", "memory", "cpu")


@dataclass(frozen=True)
class CgroupMount:
    path: Path
    root: str
    version: int
    controllers: frozenset[str]


def _unescape(value: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)


def cgroup_mounts() -> list[CgroupMount]:
    mounts: list[CgroupMount] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
            lines = mountinfo.read().splitlines()
    except OSError:
        return mounts
    for line in lines:
        before, _, after = line.partition(" - ")
        fields = before.split()
        rest = after.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        fstype, super_options = rest[0], rest[2]
        path = Path(_unescape(fields[4]))
        root = _unescape(fields[3])
        if fstype == "cgroup":
            names = frozenset(o for o in super_options.split(",") if o not in ("rw", "ro") and "=" not in o)
            mounts.append(CgroupMount(path=path, root=root, version=1, controllers=names))
        elif fstype == "cgroup2":
            try:
                names = frozenset((path / "cgroup.controllers").read_text().split())
            except OSError:
                names = frozenset()
            mounts.append(CgroupMount(path=path, root=root, version=2, controllers=names))
    return mounts


def own_cgroups() -> dict[str, str]:
    """Our cgroup path per hierarchy: keys are v1 controller lists ("cpu,cpuacct") or "" for v2."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup", encoding="utf-8") as lines:
        for line in lines:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                own[parts[1]] = parts[2]
    return own


def _relative(own: str, mount_root: str) -> str | None:
    if mount_root == "/":
        return own.lstrip("/")
    if own == mount_root or own.startswith(mount_root.rstrip("/") + "/"):
        return own[len(mount_root) :].lstrip("/")
    return None  # our cgroup is outside what this mount shows


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _keyed(path: Path, key: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return None


@dataclass
class CgroupPlan:
    """Where run cgroups go on this host; computed once per process (``plan_cgroups``)."""

    v1_parents: dict[str, Path] = field(default_factory=dict)  # controller -> parent directory
    v2_parent: Path | None = None
    v2_controllers: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, str]:
        """Which hierarchy serves what, for ``python -m sandbox check``."""
        out: dict[str, str] = {}
        for controller in ("pids", "memory", "cpu", "cpuacct"):
            if controller in self.v2_controllers or (controller == "cpuacct" and self.v2_parent is not None):
                out[controller] = f"cgroup v2 under {self.v2_parent}"
            elif controller in self.v1_parents:
                out[controller] = f"cgroup v1 under {self.v1_parents[controller]}"
            else:
                out[controller] = "none"
        out["kill"] = f"cgroup v2 cgroup.kill under {self.v2_parent}" if self.v2_parent else "signals"
        return out


def _prepare_v2_parent(parent: Path, plan: CgroupPlan) -> None:
    try:
        parent.mkdir(exist_ok=True)
    except OSError as exc:
        plan.notes.append(f"cannot create {parent}: {exc.strerror}")
        return
    plan.v2_parent = parent
    # Controllers must be enabled on every level down to the parent's children; each is tried
    # on its own because one refused controller must not cost the others.
    for level in (parent.parent, parent):
        for name in _V2_CONTROLLERS:
            with contextlib.suppress(OSError):
                _write(level / "cgroup.subtree_control", f"+{name}")
    enabled = (_read(parent / "cgroup.subtree_control") or "").split()
    plan.v2_controllers = frozenset(name for name in enabled if name in _V2_CONTROLLERS)
    missing = sorted(set(_V2_CONTROLLERS) - plan.v2_controllers)
    if missing:
        plan.notes.append(f"cgroup v2 parent {parent} cannot hand out: {', '.join(missing)}")


def plan_cgroups(config: SandboxConfig) -> CgroupPlan:
    plan = CgroupPlan()
    if config.cgroups == "none":
        plan.notes.append("cgroups turned off (PORTAL_SANDBOX_CGROUPS=none)")
        return plan
    if os.geteuid() != 0 and config.cgroup_v2_parent is None:
        plan.notes.append("not root: no cgroups unless PORTAL_SANDBOX_CGROUP names a delegated one")
        return plan
    mounts = cgroup_mounts()
    own = own_cgroups()
    if config.cgroups in ("auto", "v2"):
        v2 = next((m for m in mounts if m.version == 2), None)
        if config.cgroup_v2_parent is not None:
            _prepare_v2_parent(config.cgroup_v2_parent, plan)
        elif v2 is not None and "" in own:
            rel = _relative(own[""], v2.root)
            if rel is not None:
                _prepare_v2_parent(v2.path / rel / PARENT_NAME, plan)
    if config.cgroups in ("auto", "v1"):
        for mount in (m for m in mounts if m.version == 1):
            key = ",".join(sorted(mount.controllers))
            own_path = next((p for k, p in own.items() if k and set(k.split(",")) == set(mount.controllers)), None)
            if own_path is None:
                continue
            rel = _relative(own_path, mount.root)
            if rel is None:
                continue
            wanted = [c for c in ("pids", "memory", "cpu", "cpuacct") if c in mount.controllers]
            wanted = [c for c in wanted if c not in plan.v2_controllers]
            if not wanted:
                continue
            parent = mount.path / rel / PARENT_NAME
            try:
                parent.mkdir(exist_ok=True)
            except OSError as exc:
                plan.notes.append(f"cannot create {parent} ({key}): {exc.strerror}")
                continue
            for controller in wanted:
                plan.v1_parents[controller] = parent
    return plan


@dataclass
class RunCgroups:
    """The cgroups of one run. ``mechanisms`` says which limit each of them enforces."""

    name: str
    dirs: list[Path] = field(default_factory=list)
    mechanisms: dict[str, str] = field(default_factory=dict)
    pids_dir: tuple[int, Path] | None = None
    memory_dir: tuple[int, Path] | None = None
    cpu_usage_dir: tuple[int, Path] | None = None
    v2_dir: Path | None = None

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def cpu_seconds(self) -> float | None:
        if self.cpu_usage_dir is None:
            return None
        version, directory = self.cpu_usage_dir
        if version == 2:
            usec = _keyed(directory / "cpu.stat", "usage_usec")
            return None if usec is None else usec / 1e6
        text = _read(directory / "cpuacct.usage")
        return None if not text else int(text) / 1e9

    def memory_peak(self) -> int | None:
        if self.memory_dir is None:
            return None
        version, directory = self.memory_dir
        text = _read(directory / ("memory.peak" if version == 2 else "memory.max_usage_in_bytes"))
        return int(text) if text and text.strip().isdigit() else None

    def oom_killed(self) -> bool:
        if self.memory_dir is None:
            return False
        version, directory = self.memory_dir
        if version == 2:
            return (_keyed(directory / "memory.events", "oom_kill") or 0) > 0
        return (_keyed(directory / "memory.oom_control", "oom_kill") or 0) > 0

    def pids_limit_hit(self) -> bool:
        if self.pids_dir is None:
            return False
        return (_keyed(self.pids_dir[1] / "pids.events", "max") or 0) > 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs:
            text = _read(directory / "cgroup.procs") or ""
            found.update(int(p) for p in text.split())
        return found

    def kill(self) -> bool:
        """SIGKILL every process of the run's cgroups; True when cgroup v2's cgroup.kill did it (it
        reaches every process of the cgroup at once, forks in flight included)."""
        killed = False
        if self.v2_dir is not None:
            with contextlib.suppress(OSError):
                _write(self.v2_dir / "cgroup.kill", "1")
                killed = True
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return killed

    def wait_empty(self, *, timeout: float) -> bool:
        """Until no process is left in the run's cgroups (killed processes take a moment to go), at
        most ``timeout`` seconds; True when empty. Woken by cgroup v2's cgroup.events, without sleeps."""
        if self.v2_dir is None:
            return not self.pids()
        try:
            fd = os.open(self.v2_dir / "cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return not self.pids()
        end = time.monotonic() + timeout
        try:
            poller = select.poll()
            # A change of cgroup.events ("populated 0") wakes a poll for POLLPRI.
            poller.register(fd, select.POLLPRI)
            while True:
                os.lseek(fd, 0, os.SEEK_SET)
                if "populated 0" in os.read(fd, 4096).decode(errors="replace").splitlines():
                    return not self.pids()  # the v1 hierarchies of a hybrid host too
                left = end - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(min(left, 0.05) * 1000)  # bounded, should a notification be missed
        except OSError:
            return not self.pids()
        finally:
            os.close(fd)

    def remove(self, *, timeout: float = 2.0) -> list[Path]:
        """rmdir every run cgroup; returns those that would not go (still busy after ``timeout``)."""
        deadline = time.monotonic() + timeout
        left = list(self.dirs)
        while left:
            still: list[Path] = []
            for directory in left:
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    still.append(directory)
            left = still
            if not left or time.monotonic() > deadline:
                break
            self.kill()
            time.sleep(0.01)
        return left


def _make(parent: Path, name: str, run: RunCgroups) -> Path:
    directory = parent / name
    if directory not in run.dirs:
        directory.mkdir()
        run.dirs.append(directory)
    return directory


def create_run_cgroups(plan: CgroupPlan, *, name: str, memory: int, processes: int, cpus: float | None) -> RunCgroups:
    """Create and configure the cgroups of one run. A limit that cannot be written is left out of
    ``mechanisms`` (the caller falls back to an rlimit and says so); creating a directory that then
    fails to take our process is an error in the child, so nothing runs outside its cgroups."""
    run = RunCgroups(name=name)
    try:
        if plan.v2_parent is not None:
            run.v2_dir = _make(plan.v2_parent, name, run)
            # cpu.stat's usage_usec is kept by every v2 cgroup, with or without the cpu controller.
            run.cpu_usage_dir = (2, run.v2_dir)
            run.mechanisms["cpu_accounting"] = "cgroup-v2:cpu.stat"
            run.mechanisms["kill"] = "cgroup-v2:cgroup.kill"
        v2 = run.v2_dir
        # Processes.
        if v2 is not None and "pids" in plan.v2_controllers:
            with contextlib.suppress(OSError):
                _write(v2 / "pids.max", str(processes))
                run.pids_dir = (2, v2)
                run.mechanisms["processes"] = "cgroup-v2:pids.max"
        if run.pids_dir is None and "pids" in plan.v1_parents:
            directory = _make(plan.v1_parents["pids"], name, run)
            with contextlib.suppress(OSError):
                _write(directory / "pids.max", str(processes))
                run.pids_dir = (1, directory)
                run.mechanisms["processes"] = "cgroup-v1:pids.max"
        # Memory; swap is capped too, or a run could page its way past the limit.
        if v2 is not None and "memory" in plan.v2_controllers:
            with contextlib.suppress(OSError):
                _write(v2 / "memory.max", str(memory))
                run.memory_dir = (2, v2)
                run.mechanisms["memory"] = "cgroup-v2:memory.max"
                if (v2 / "memory.swap.max").exists():
                    _write(v2 / "memory.swap.max", "0")
        if run.memory_dir is None and "memory" in plan.v1_parents:
            directory = _make(plan.v1_parents["memory"], name, run)
            with contextlib.suppress(OSError):
                _write(directory / "memory.limit_in_bytes", str(memory))
                run.memory_dir = (1, directory)
                run.mechanisms["memory"] = "cgroup-v1:memory.limit_in_bytes"
                if (directory / "memory.memsw.limit_in_bytes").exists():
                    _write(directory / "memory.memsw.limit_in_bytes", str(memory))
        # CPU bandwidth (cores), then CPU time accounting for the cpu_time limit.
        if cpus is not None:
            quota = max(1000, int(cpus * 100_000))
            if v2 is not None and "cpu" in plan.v2_controllers:
                with contextlib.suppress(OSError):
                    _write(v2 / "cpu.max", f"{quota} 100000")
                    run.mechanisms["cpus"] = "cgroup-v2:cpu.max"
            if "cpus" not in run.mechanisms and "cpu" in plan.v1_parents:
                directory = _make(plan.v1_parents["cpu"], name, run)
                with contextlib.suppress(OSError):
                    _write(directory / "cpu.cfs_period_us", "100000")
                    _write(directory / "cpu.cfs_quota_us", str(quota))
                    run.mechanisms["cpus"] = "cgroup-v1:cpu.cfs_quota_us"
        if run.cpu_usage_dir is None and "cpuacct" in plan.v1_parents:
            directory = _make(plan.v1_parents["cpuacct"], name, run)
            run.cpu_usage_dir = (1, directory)
            run.mechanisms["cpu_accounting"] = "cgroup-v1:cpuacct.usage"
    except BaseException:
        run.remove(timeout=0.5)
        raise
    return run


def remove_stale(plan: CgroupPlan, *, prefix: str) -> None:
    """Remove run cgroups named ``prefix*`` left behind by a worker that died mid-run."""
    parents = set(plan.v1_parents.values())
    if plan.v2_parent is not None:
        parents.add(plan.v2_parent)
    for parent in parents:
        try:
            names = [n for n in os.listdir(parent) if n.startswith(prefix)]
        except OSError:
            continue
        for name in names:
            stale = RunCgroups(name=name, dirs=[parent / name])
            if parent == plan.v2_parent:
                stale.v2_dir = parent / name
            stale.kill()
            stale.remove(timeout=1.0)
