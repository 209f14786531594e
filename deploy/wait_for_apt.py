"""Wait until no other package manager holds apt's or dpkg's locks, saying so once. For the Makefile.

    python3 deploy/wait_for_apt.py [--timeout SECONDS] [LOCK ...]

apt-get's own wait (-o DPkg::Lock::Timeout) covers dpkg's locks but not the lists lock `apt-get
update` takes, and under -qq it waits without a word: a first `make run` next to an unattended
upgrade died at once or looked hung. This only looks at the locks (F_GETLK takes none), so it
never gets in the other package manager's way. Stdlib only: it runs before the virtualenv exists.

Exits 0 once every lock is free (at once and silently when none is held), 1 after the timeout.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import struct
import sys
import time

LOCKS = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
)
# Linux's struct flock: l_type, l_whence, l_start, l_len, l_pid (native alignment pads after l_whence).
_FLOCK = "hhqqi"


def holder(path: str) -> int | None:
    """The process that holds a lock on ``path`` (0 when it lives in another PID namespace), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        return None  # no such lock yet; or not root, and then apt-get is not run
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        lock_type, _whence, _start, _length, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    finally:
        os.close(fd)
    return None if lock_type == fcntl.F_UNLCK else pid


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return f"{comm.read().strip()}, process {pid}"
    except OSError:
        return f"process {pid}" if pid else "a process outside this container"


def wait(locks: list[str], *, timeout: float, interval: float = 1.0) -> int:
    deadline = time.monotonic() + timeout
    said = False
    while True:
        held = [(path, pid) for path in locks for pid in [holder(path)] if pid is not None]
        if not held:
            return 0
        path, pid = held[0]
        if not said:
            print(f"Waiting for another package manager to finish ({path} held by {_name(pid)})...", flush=True)
            said = True
        if time.monotonic() >= deadline:
            print(
                f"Another package manager still held {path} after {timeout:g} s: let it finish (or stop it), "
                "then run the same make command again.",
                file=sys.stderr,
            )
            return 1
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait at most (default 600)")
    parser.add_argument("locks", nargs="*", default=list(LOCKS), help="lock files (default: apt's and dpkg's)")
    args = parser.parse_args(argv)
    return wait(args.locks, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
