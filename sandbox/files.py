"""Moving the work directory in and out of the sandbox's tmpfs without following symlinks.

The sandbox's /work is a size-capped tmpfs that exists only in the sandbox's mount namespace.
The host reaches it through a directory fd opened via /proc/<pid>/root/work while bwrap waits
before running the command; that fd keeps the tmpfs alive after the sandbox is gone, which is
when results are copied out.

Every path is resolved one component at a time relative to a directory fd with O_NOFOLLOW.
This matters because symlinks under /proc/<pid>/root resolve against the *host's* root: a
candidate's ``report.xml -> /etc/shadow`` would otherwise hand the host file to the caller.
Symlinks, fifos, sockets and devices are never copied out, hard links are copied once, and the
total copied is bounded, so a candidate cannot make the copy-back fill the host's disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SandboxError, SandboxSetupError

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG, _PR_GET_PDEATHSIG = 1, 2

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a fifo for reading must not hang; O_NOCTTY: a tty must not become ours.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_MAX_DEPTH = 64


@contextlib.contextmanager
def fs_identity(uid: int | None, gid: int | None) -> Iterator[None]:
    """Create files as ``uid``/``gid`` in this thread only (setfsuid/setfsgid are per thread).

    A tmpfs mounted inside the sandbox's user namespace refuses files owned by uids it cannot map
    (EOVERFLOW), and only the slot uid is mapped; root keeps its other powers meanwhile.
    """
    if uid is None or gid is None or (uid == os.geteuid() and gid == os.getegid()):
        yield
        return
    death = ctypes.c_int()
    _libc.prctl(_PR_GET_PDEATHSIG, ctypes.byref(death))
    parent = os.getppid()
    old_gid = _libc.setfsgid(gid)
    old_uid = _libc.setfsuid(uid)
    try:
        # setfsuid reports no errors; asking with an invalid id returns the current one.
        if _libc.setfsuid(-1) != uid or _libc.setfsgid(-1) != gid:
            raise SandboxError(f"could not switch file-system identity to {uid}:{gid}")
        yield
    finally:
        _libc.setfsuid(old_uid)
        _libc.setfsgid(old_gid)
        # The kernel clears a thread's parent-death signal whenever its fsuid or fsgid changes: a
        # worker's pool process would outlive its killed parent, its runs' sandboxes with it. Set it
        # back, and go now if the parent died while it was cleared.
        if death.value:
            _libc.prctl(_PR_SET_PDEATHSIG, death.value)
            if os.getppid() != parent:
                os.kill(os.getpid(), death.value)


def _copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    offset = 0
    while offset < size:
        sent = os.sendfile(dst_fd, src_fd, offset, min(size - offset, 1 << 30))
        if sent == 0:
            break
        offset += sent


def copy_in(src: Path, dst_fd: int, *, uid: int | None, gid: int | None, max_entries: int) -> int:
    """Copy the host directory ``src`` into the sandbox directory ``dst_fd``; returns bytes copied.

    Symlinks are copied as symlinks (inside the sandbox they resolve in the sandbox's own view),
    set-id bits are dropped and everything is owned by the sandbox user. More than ``max_entries``
    entries is refused: the copy runs before the clock starts, so it must be bounded on its own.
    """
    total = 0
    entries = 0
    root_fd = os.open(src, _DIR_FLAGS)
    stack: list[tuple[int, int]] = [(root_fd, os.dup(dst_fd))]
    try:
        while stack:
            s_fd, d_fd = stack.pop()
            try:
                with os.scandir(s_fd) as listing:
                    children = list(listing)
                for entry in children:
                    entries += 1
                    if entries > max_entries:
                        raise SandboxSetupError(f"the work directory {src} has more than {max_entries} entries")
                    st = entry.stat(follow_symlinks=False)
                    mode = stat.S_IMODE(st.st_mode) & 0o777
                    if stat.S_ISDIR(st.st_mode):
                        with fs_identity(uid, gid):
                            os.mkdir(entry.name, mode | 0o700, dir_fd=d_fd)
                        stack.append(
                            (
                                os.open(entry.name, _DIR_FLAGS, dir_fd=s_fd),
                                os.open(entry.name, _DIR_FLAGS, dir_fd=d_fd),
                            )
                        )
                    elif stat.S_ISREG(st.st_mode):
                        in_fd = os.open(entry.name, _FILE_FLAGS, dir_fd=s_fd)
                        try:
                            with fs_identity(uid, gid):
                                out_fd = os.open(
                                    entry.name,
                                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                    mode | 0o600,
                                    dir_fd=d_fd,
                                )
                            try:
                                _copy_data(in_fd, out_fd, os.fstat(in_fd).st_size)
                            finally:
                                os.close(out_fd)
                        finally:
                            os.close(in_fd)
                        total += st.st_size
                    elif stat.S_ISLNK(st.st_mode):
                        target = os.readlink(entry.name, dir_fd=s_fd)
                        with fs_identity(uid, gid):
                            os.symlink(target, entry.name, dir_fd=d_fd)
                    # fifos, sockets and devices are not copied
            finally:
                os.close(s_fd)
                os.close(d_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SandboxSetupError(f"the work directory {src} does not fit in the sandbox's disk limit") from exc
        raise
    finally:
        for s_fd, d_fd in stack:
            os.close(s_fd)
            os.close(d_fd)
    return total


_MAX_SKIPPED_NOTES = 100


@dataclass
class CopyOut:
    """What the copy back to the host did. ``skipped`` keeps the first notes, ``skipped_count``
    counts them all, ``complete`` is False when the walk stopped at the entry limit."""

    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # "path (why)"
    skipped_count: int = 0
    largest_file: int = 0
    complete: bool = True

    def skip(self, note: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < _MAX_SKIPPED_NOTES:
            self.skipped.append(note)


def _walk_sandbox(src_fd: int, *, report: CopyOut, max_entries: int) -> Iterator[tuple[str, int, int, os.stat_result]]:
    """Yield (relative path, parent fd, kind, stat) for the tree under ``src_fd``; fds stay open
    only while their entries are being yielded. kind is stat.S_IFDIR or stat.S_IFREG. Stops after
    ``max_entries`` entries, so a million empty files cost a bounded amount of time."""
    stack: list[tuple[str, int, int]] = [("", os.dup(src_fd), 0)]
    seen = 0
    try:
        while stack:
            prefix, dir_fd, depth = stack.pop()
            try:
                names = os.listdir(dir_fd)
                if seen + len(names) > max_entries:
                    report.complete = False
                    names = sorted(names)[: max(0, max_entries - seen)]
                    stack.clear()  # and nothing below the remaining directories either
                    report.skip(f"{prefix or './'} (more than {max_entries} entries: the rest was not copied)")
                seen += len(names)
                for name in sorted(names):
                    rel = f"{prefix}{name}"
                    try:
                        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if depth + 1 >= _MAX_DEPTH:
                            report.skip(f"{rel}/ (nested too deep)")
                            continue
                        yield rel, dir_fd, stat.S_IFDIR, st
                        if report.complete:
                            stack.append((f"{rel}/", os.open(name, _DIR_FLAGS, dir_fd=dir_fd), depth + 1))
                    elif stat.S_ISREG(st.st_mode):
                        yield rel, dir_fd, stat.S_IFREG, st
                    elif stat.S_ISLNK(st.st_mode):
                        report.skip(f"{rel} (symlink)")
                    else:
                        report.skip(f"{rel} (special file)")
            finally:
                os.close(dir_fd)
    finally:
        for _, dir_fd, _ in stack:
            os.close(dir_fd)


def largest_file(src_fd: int, *, max_entries: int) -> int:
    report = CopyOut()
    walk = _walk_sandbox(src_fd, report=report, max_entries=max_entries)
    return max((st.st_size for _, _, kind, st in walk if kind == stat.S_IFREG), default=0)


def _clear_directory(path: Path) -> None:
    dir_fd = os.open(path, _DIR_FLAGS)
    try:
        for name in os.listdir(dir_fd):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                # rmtree with dir_fd never follows symlinks inside the tree.
                shutil.rmtree(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def copy_out(src_fd: int, dst: Path, *, max_files: int, max_bytes: int) -> CopyOut:
    """Replace the contents of the host directory ``dst`` with the regular files and directories
    under the sandbox directory ``src_fd``. Runs only after every process of the run is dead, so
    nothing changes underneath it; it is careful anyway."""
    report = CopyOut()
    _clear_directory(dst)
    seen: set[tuple[int, int]] = set()
    dst_root = os.open(dst, _DIR_FLAGS)
    # Host-side directory fds by relative path, so every create is relative to an fd we opened.
    dst_dirs: dict[str, int] = {"": dst_root}
    try:
        for rel, parent_fd, kind, st in _walk_sandbox(src_fd, report=report, max_entries=max_files):
            parent_rel, _, name = rel.rpartition("/")
            host_parent = dst_dirs.get(parent_rel)
            if host_parent is None:
                continue  # its directory was skipped
            if kind == stat.S_IFDIR:
                os.mkdir(name, 0o755, dir_fd=host_parent)
                dst_dirs[rel] = os.open(name, _DIR_FLAGS, dir_fd=host_parent)
                report.files += 1
                continue
            report.largest_file = max(report.largest_file, st.st_size)
            if (st.st_dev, st.st_ino) in seen:
                report.skip(f"{rel} (hard link to a file already copied)")
                continue
            if report.bytes + st.st_size > max_bytes:
                report.skip(f"{rel} (copy-back size limit)")
                continue
            seen.add((st.st_dev, st.st_ino))
            in_fd = os.open(name, _FILE_FLAGS, dir_fd=parent_fd)
            try:
                real = os.fstat(in_fd)
                if not stat.S_ISREG(real.st_mode) or (real.st_dev, real.st_ino) != (st.st_dev, st.st_ino):
                    report.skip(f"{rel} (changed while copying)")
                    continue
                mode = 0o755 if real.st_mode & stat.S_IXUSR else 0o644
                out_fd = os.open(
                    name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=host_parent
                )
                try:
                    # Sparse files are written out in full, so the budget counts st_size, not blocks.
                    size = min(real.st_size, max_bytes - report.bytes)
                    _copy_data(in_fd, out_fd, size)
                finally:
                    os.close(out_fd)
            finally:
                os.close(in_fd)
            report.files += 1
            report.bytes += size
    finally:
        for fd in dst_dirs.values():
            os.close(fd)
    return report


def read_file(directory: Path, relative: str, *, max_bytes: int = 16 * 1024 * 1024) -> bytes:
    """Read ``directory/relative`` without following any symlink on the way; for callers reading
    results out of a work directory a candidate controlled. Raises OSError (ELOOP for a symlink,
    EISDIR/EINVAL for something that is not a regular file, EFBIG when over ``max_bytes``)."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OSError(errno.EINVAL, f"not a relative path inside the directory: {relative!r}")
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file: {relative!r}")
        if st.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"{relative!r} is larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise OSError(errno.EFBIG, f"{relative!r} is larger than {max_bytes} bytes")
        return data
    finally:
        os.close(fd)
