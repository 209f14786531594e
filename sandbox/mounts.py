"""Handing bwrap a runtime that lives under a directory the slot uid may not enter.

bwrap runs as the slot's unprivileged uid and mounts by *path*, even for ``--ro-bind-fd``: it
first turns ``/proc/self/fd/N`` into a path with realpath() and then looks up every component
of that path as the slot uid. A descriptor opened by root therefore does not help when the
runtime sits below a directory only its owner may enter (a home directory of mode 0700, a
``mktemp -d`` directory, pytest's tmp dirs): bwrap stops with "Can't find source path
/proc/self/fd/N: Permission denied".

For such a runtime the forked child, while it is still root, enters a mount namespace of its
own (a slave of the host's: nothing mounted in it propagates back) and binds the runtime (the
very directory root opened, checked by device and inode) over the sandbox's state directory:
root-owned, not writable by others, and with parents the slot uid can pass. Only that child,
and then bwrap, see the bind; on the host the state directory and the data directory keep their
modes. The slot uid reaches the runtime's tree and nothing beside it (``..`` at the root of a
bind mount leads to the mount point's parent, not to the runtime's), and bwrap binds that path
read-only at /runtime as usual. Creating the namespace needs CAP_SYS_ADMIN, which a worker
container may lack; then the run is refused with the fix.

A runtime every uid can reach is still given to bwrap as a descriptor, with no namespace.
"""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxSetupError, SandboxUnavailable

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_private_mount_namespace() -> None:
    """unshare(CLONE_NEWNS), then make every mount a slave so that no mount made here reaches
    the host (after unshare, shared mounts would still propagate to their peers)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")


def bind_directory(source: bytes, target: bytes, *, identity: tuple[int, int]) -> None:
    """Bind the directory ``source`` over ``target`` in this mount namespace and check that what
    is now at ``target`` is the directory (device, inode) ``identity`` root opened before.

    By path, not through that descriptor: the kernel binds only mounts of the caller's own
    namespace, and the descriptor belongs to the host's.
    """
    _check(_libc.mount(source, target, None, MS_BIND, None), "bind mount")
    st = os.stat(target)
    if (st.st_dev, st.st_ino) != identity:
        raise OSError(f"{os.fsdecode(source)} changed between opening and binding it")


def closed_directory(path: str) -> str | None:
    """The first directory on the way from / to ``path`` (itself included) that a uid other than
    its owner and group may not enter (no ``x`` for others), or None if there is none."""
    parts = [part for part in path.split("/") if part]
    current = "/"
    for index in range(len(parts) + 1):
        if index:
            current = "/" + "/".join(parts[:index])
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return current
        if not mode & stat.S_IXOTH:
            return current
    return None


@dataclass(frozen=True)
class RuntimeBind:
    """How bwrap gets the runtime: as the descriptor ``fd`` (``mountpoint`` None), or, when the
    runtime is out of the slot uid's reach, at ``mountpoint``, where the child first binds the
    directory ``path`` (checked to be the one open as ``fd``)."""

    fd: int
    path: str
    identity: tuple[int, int]
    mountpoint: str | None = None


def _probe_child() -> None:
    try:
        enter_private_mount_namespace()
    except OSError as exc:
        os.write(2, str(exc).encode())
        os._exit(1)


_probe_lock = threading.Lock()
_probe_ok = False


def _probe_mount_namespace() -> str | None:
    """None if this process may create mount namespaces (checked once), else why not."""
    global _probe_ok
    with _probe_lock:
        if _probe_ok:
            return None
        out = subprocess.run(
            ["/bin/true"],
            preexec_fn=_probe_child,  # two syscalls in the child, then /bin/true
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={},
            cwd="/",
            check=False,
        )
        if out.returncode == 0:
            _probe_ok = True
            return None
        return out.stderr.decode(errors="replace").strip() or f"exit status {out.returncode}"


def plan_runtime_bind(fd: int, *, state_dir: Path) -> RuntimeBind:
    """Decide how bwrap gets the runtime open (O_PATH) as ``fd``; raise naming the fix when the
    slot uids could not use it."""
    path = os.readlink(f"/proc/self/fd/{fd}")
    st = os.fstat(fd)
    mode = st.st_mode
    if mode & 0o005 != 0o005:
        raise SandboxSetupError(
            f"the runtime {path} is not readable by the sandbox's uids (mode {stat.S_IMODE(mode):04o}); "
            f"build it with runtime_build (which opens it up), or run `chmod -R a+rX {path}`."
        )
    closed = closed_directory(os.path.dirname(path))
    if closed is None:
        return RuntimeBind(fd=fd, path=path, identity=(st.st_dev, st.st_ino))
    mountpoint = os.path.realpath(state_dir)
    why = f"the runtime {path} lies under {closed}, which the sandbox's unprivileged uids may not enter"
    blocked = closed_directory(os.path.dirname(mountpoint))
    if blocked is not None:
        raise SandboxUnavailable(
            f"{why}; the worker binds such a runtime for them over the sandbox state directory {mountpoint}, "
            f"but {blocked} closes that path too: set PORTAL_SANDBOX_STATE_DIR to a directory whose parents "
            f"everyone may enter (the default, /run/portal-sandbox, is)."
        )
    refused = _probe_mount_namespace()
    if refused is not None:
        raise SandboxUnavailable(
            f"{why}; the worker binds such a runtime for them in a mount namespace of the run, but may not "
            f"create one here ({refused}): give the worker CAP_SYS_ADMIN (compose: `cap_add: [SYS_ADMIN]`), "
            f"or put PORTAL_DATA_DIR where every parent directory lets others pass (`chmod o+x` on {closed} "
            f"and the closed directories below it: passing through, not listing or reading)."
        )
    return RuntimeBind(fd=fd, path=path, identity=(st.st_dev, st.st_ino), mountpoint=mountpoint)
