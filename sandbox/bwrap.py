"""Finding and probing bubblewrap, and building its command line.

bwrap runs as the slot's unprivileged uid, so it always creates a user namespace: the
sandbox's processes have no capabilities on the host, and ``--disable-userns`` stops them from
nesting further user namespaces (a frequent step in kernel exploits).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import SandboxUnavailable

MIN_VERSION = (0, 8, 0)  # --size (for tmpfs) and --disable-userns

INSTALL_FIX = "install it with `apt-get install bubblewrap` (Debian/Ubuntu package bubblewrap)"
USERNS_FIX = (
    "the sandbox needs unprivileged user namespaces: on Debian run `sysctl -w kernel.unprivileged_userns_clone=1`, "
    "and `user.max_user_namespaces` must be above 0 (e.g. `sysctl -w user.max_user_namespaces=15000`); "
    "on Ubuntu 23.10+ also `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; "
    "in a container also run it with `security_opt: [seccomp=unconfined, apparmor=unconfined]`. "
    "See docs/sandbox.md."
)

SANDBOX_UID = 1000  # the uid/gid code sees inside the sandbox
WORK = "/work"
RUNTIME = "/runtime"


@dataclass(frozen=True)
class BwrapInfo:
    path: str
    version: tuple[int, ...]


def locate(bwrap: str) -> BwrapInfo:
    """Check that ``bwrap`` exists, is executable and new enough; raise with the fix if not."""
    path = bwrap
    if os.sep not in path:
        from shutil import which

        path = which(path) or path
    try:
        st = os.stat(path)
    except OSError:
        raise SandboxUnavailable(f"bubblewrap (bwrap) was not found at {bwrap!r}: {INSTALL_FIX}.") from None
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o001:
        raise SandboxUnavailable(
            f"bubblewrap at {path!r} is not a program everyone may execute (the sandbox runs it as "
            f"an unprivileged uid): reinstall it with `apt-get install --reinstall bubblewrap`."
        )
    if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        # A setuid bwrap runs its setup as root; this package relies on the unprivileged mode.
        raise SandboxUnavailable(
            f"bubblewrap at {path!r} is setuid; the sandbox needs the ordinary (non-setuid) build."
        )
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False, env={}, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap at {path!r} does not run ({exc}): {INSTALL_FIX}.") from exc
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out.stdout)
    if out.returncode != 0 or not match:
        raise SandboxUnavailable(f"{path!r} is not a working bubblewrap ({out.stderr.strip()!r}): {INSTALL_FIX}.")
    version = tuple(int(g or 0) for g in match.groups())
    if version < MIN_VERSION:
        raise SandboxUnavailable(
            f"bubblewrap {'.'.join(map(str, version))} at {path!r} is too old; the sandbox needs "
            f"{'.'.join(map(str, MIN_VERSION))} or newer (Debian 12 ships it): {INSTALL_FIX}."
        )
    return BwrapInfo(path=path, version=version)


_probe_lock = threading.Lock()
_probe_ok: set[str] = set()


def probe_userns(info: BwrapInfo, *, uid: int | None, gid: int | None) -> None:
    """Run the smallest sandbox once (per bwrap, then cached) to prove user namespaces work for
    an unprivileged uid; raise SandboxUnavailable naming the fix when they do not."""
    key = info.path
    with _probe_lock:
        if key in _probe_ok:
            return
    argv = [
        info.path,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--as-pid-1",
        "--clearenv",
        *system_binds(),
        "--",
        "/bin/true",
    ]
    try:
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={},
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap could not be started ({exc}): {INSTALL_FIX}.") from exc
    if out.returncode != 0:
        said = out.stderr.strip() or f"exit status {out.returncode}"
        if re.search(r"namespace|uid map|Operation not permitted|No space left|Permission denied", said, re.I):
            raise SandboxUnavailable(
                f"bubblewrap cannot create a user namespace here (bwrap said: {said}); {USERNS_FIX}"
            )
        raise SandboxUnavailable(f"bubblewrap fails on this host (bwrap said: {said}); see docs/sandbox.md.")
    with _probe_lock:
        _probe_ok.add(key)


def system_binds() -> list[str]:
    """Read-only binds of the system: /usr, plus /bin, /lib... as symlinks on a merged-/usr host
    (or read-only binds where they are real directories). Nothing else of the host's tree."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{top}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    return args


# Files of /etc that programs need and that say nothing about the host; bound read-only.
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
)

SYNTHETIC_ETC: dict[str, str] = {
    "/etc/passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "/etc/group": f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
    "/etc/hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    # Only files: name lookups never try DNS (there is no network anyway) and fail at once.
    "/etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n",
    "/etc/hostname": "sandbox\n",
}


def build_argv(
    *,
    bwrap: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    ready_marker: str,
    info_fd: int,
    block_fd: int,
    etc_fds: Mapping[str, int],
    seccomp_fd: int | None,
    runtime_fd: int | None,
    runtime_path: str | None = None,
    disk: int,
    tmp: int,
) -> list[str]:
    """The bwrap command line for one run.

    ``ready_marker`` is a directory created in the sandbox root: the host sees it through
    /proc/<pid>/root only after bwrap's final pivot_root, i.e. once every mount is in place, and
    bwrap then waits on ``block_fd`` before exec'ing the command.

    The runtime, if any, is bound read-only at /runtime from ``runtime_fd``, or from
    ``runtime_path`` when the child has bound it there for bwrap (mounts.py).
    """
    args = [
        bwrap,
        "--unshare-all",  # user, ipc, pid, net (only a loopback), uts, cgroup
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        # The command itself is the namespace's init. bwrap's optional reaper would be orphaned
        # when bwrap exits and linger as a zombie of the slot uid until the host's init reaps it,
        # counting against the next run's RLIMIT_NPROC; when the command exits, the kernel kills
        # everything else in the namespace either way.
        "--as-pid-1",
        "--new-session",  # no controlling terminal: TIOCSTI cannot type into the caller's tty
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
        *system_binds(),
    ]
    for path in _ETC_FILES:
        if os.path.lexists(path):
            args += ["--ro-bind", path, path]
    for path, fd in sorted(etc_fds.items()):
        args += ["--ro-bind-data", str(fd), path]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(tmp),
        "--tmpfs",
        "/dev/shm",  # noqa: S108 - inside the sandbox: a private, size-capped tmpfs
        "--size",
        str(tmp),
        "--tmpfs",
        "/tmp",  # noqa: S108 - inside the sandbox: a private, size-capped tmpfs
        "--size",
        str(disk),
        "--tmpfs",
        WORK,
    ]
    if runtime_fd is not None:
        args += ["--ro-bind-fd", str(runtime_fd), RUNTIME]
    elif runtime_path is not None:
        args += ["--ro-bind", runtime_path, RUNTIME]
    args += ["--dir", ready_marker]
    # Last: nothing but /work, /tmp and /dev/shm (all size-capped tmpfs) stays writable; bwrap's
    # own root and /dev tmpfs would otherwise take unbounded writes.
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += [
        "--chdir",
        WORK,
        "--info-fd",
        str(info_fd),
        "--block-fd",
        str(block_fd),
        "--",
        *argv,
    ]
    return args
