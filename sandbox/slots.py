"""Sandbox slots: one unprivileged uid per concurrent run.

RLIMIT_NPROC counts every process of a real uid, so a fork bomb in one run would starve any
other run sharing its uid. Each run therefore takes a slot (an flock on a lock file) that owns
a uid nobody else uses while the lock is held; the child drops to it before exec'ing bwrap.
Owning the uid exclusively also gives a last-resort kill that needs no cgroup: a process
running as that uid calling kill(-1, SIGKILL) reaches every process of the run, whatever
session, process group or pid namespace it hid in.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .config import SandboxConfig
from .errors import SandboxError, SandboxUnavailable


@dataclass(frozen=True)
class Slot:
    index: int
    uid: int
    gid: int
    lock_fd: int


def processes_of_uid(uid: int) -> list[int]:
    """Live pids whose real uid is ``uid`` (scans /proc of the pid namespace we run in).

    Zombies are left out: they run nothing and cannot be killed, only reaped by their parent.
    """
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/status", os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited while we looked
        try:
            head = os.read(fd, 1024)  # State and Uid are among the first lines
        except OSError:
            continue
        finally:
            os.close(fd)
        state = uids = b""
        for line in head.split(b"\n"):
            if line.startswith(b"State:"):
                state = line
            elif line.startswith(b"Uid:"):
                uids = line
                break
        fields = uids.split()
        if len(fields) > 1 and int(fields[1]) == uid and state.split()[1:2] not in ([b"Z"], [b"X"]):
            found.append(int(name))
    return found


def signal_uid(uid: int, gid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to every process of ``uid`` (kill(-1) from a child that became ``uid``).

    kill(-1) skips the caller itself, so the helper survives to exec /bin/true and exit.
    """
    # preexec_fn runs after subprocess has switched to user/group, so kill(-1) is sent as uid.
    subprocess.run(
        ["/bin/true"],
        user=uid,
        group=gid,
        extra_groups=[],
        preexec_fn=lambda: os.kill(-1, sig),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={},
        cwd="/",
        check=False,
    )


def kill_uid(uid: int, gid: int, *, timeout: float = 5.0) -> list[int]:
    """SIGKILL everything of ``uid`` until nothing is left; returns pids that survived ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = processes_of_uid(uid)
        if not left:
            return []
        if time.monotonic() > deadline:
            return left
        signal_uid(uid, gid, signal.SIGKILL)
        # SIGKILLed processes need a moment to be reaped by their (possibly killed) parents.
        time.sleep(0.005)


def _check_uid_is_free(uid: int, config: SandboxConfig) -> None:
    """Slot uids (and the gids of the same number) must belong to nobody else: files, processes
    or group memberships of a real account would be within reach of the sandboxed code."""
    taken: str | None = None
    try:
        taken = f"the account {pwd.getpwuid(uid).pw_name!r}"
    except KeyError:
        try:
            taken = f"the group {grp.getgrgid(uid).gr_name!r}"
        except KeyError:
            return
    raise SandboxUnavailable(
        f"uid/gid {uid} is {taken} on this host, but sandbox slots need ids nobody uses: "
        f"set PORTAL_SANDBOX_UID_BASE to the start of a free range of {config.slots} ids "
        f"(now {config.uid_base})."
    )


def _open_state_dir(config: SandboxConfig) -> int:
    state_dir = config.state_dir
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxUnavailable(
            f"cannot use the sandbox state directory {state_dir}: {exc.strerror}; "
            "set PORTAL_SANDBOX_STATE_DIR to a directory only the worker can write."
        ) from exc
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        # Someone else could otherwise pre-create lock files and make two runs share a uid.
        raise SandboxUnavailable(
            f"the sandbox state directory {state_dir} must be owned by uid {os.geteuid()} and not writable by others."
        )
    return fd


@contextlib.contextmanager
def acquire_slot(config: SandboxConfig, *, timeout: float = 60.0) -> Iterator[Slot]:
    """Hold a free slot for the duration of the ``with`` block.

    flock() locks belong to the open file description, so two threads of one process exclude
    each other just like two processes do. A slot whose holder died is free again at once
    (the kernel drops the lock), and leftovers of its uid are killed before it is handed out.
    """
    dir_fd = _open_state_dir(config)
    deadline = time.monotonic() + timeout
    try:
        while True:
            for index in range(config.slots):
                uid = config.uid_base + index
                fd = os.open(
                    f"slot-{index}.lock",
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=dir_fd,
                )
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue
                    raise
                try:
                    _check_uid_is_free(uid, config)
                    survivors = kill_uid(uid, uid)
                    if survivors:
                        raise SandboxError(f"processes {survivors} of slot uid {uid} cannot be killed")
                    slot = Slot(index=index, uid=uid, gid=uid, lock_fd=fd)
                except BaseException:
                    os.close(fd)
                    raise
                try:
                    yield slot
                finally:
                    os.close(fd)  # releases the flock
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"all {config.slots} sandbox slots stayed busy for {timeout:.0f}s")
            time.sleep(0.05)
    finally:
        os.close(dir_fd)
