"""Serving mode: a long-running app (the candidate's) in a sandbox, reachable only through a
unix socket in its work directory.

The sandbox has no network but its own loopback, so the socket file is the only way in. The
host connects through an O_PATH descriptor of the socket opened without following symlinks:
a candidate who replaces ``app.sock`` with a symlink to a host socket (the database's, say)
gets ENOTSOCK/ELOOP, not a connection made by the host on its behalf.

bwrap is started with --die-with-parent, which the kernel ties to the *thread* that started
it: call ``serve()`` from a thread that outlives the server (e.g. the worker's main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import http.client
import os
import select
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .api import SandboxRun, Service
from .bwrap import WORK
from .config import SandboxConfig
from .errors import SandboxError, ServeError
from .limits import Limits
from .result import Result
from .runtime import Runtime

_libc = ctypes.CDLL(None, use_errno=True)
_IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE, _IN_Q_OVERFLOW, _IN_ONLYDIR = 0x4, 0x80, 0x100, 0x4000, 0x01000000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name
# How often the start is checked without a word from inotify (the app's exit, its CPU, the clock).
_READY_POLL = 0.02
# A wake-up is followed by the next one no sooner than this: an app creating files in /work in a
# loop makes the host check its socket at most this often, not once per file.
_MIN_WAKE = 0.002


class _SocketWatch:
    """Wakes the wait for an app's socket when an entry of that name appears in its work directory.

    inotify on the sandbox's /work, reached through the host's directory descriptor (the tmpfs
    exists only in the sandbox's mount namespace): uvicorn, like most servers, creates its socket
    once it is ready, and chmods it right after listen(). Without inotify it is a plain sleep.
    """

    def __init__(self, dir_fd: int, name: str) -> None:
        self.name = name.encode()
        self.fd: int | None = None
        self._woken = 0.0
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return
        mask = _IN_CREATE | _IN_MOVED_TO | _IN_ATTRIB | _IN_ONLYDIR
        if _libc.inotify_add_watch(fd, f"/proc/self/fd/{dir_fd}".encode(), mask) < 0:
            os.close(fd)
            return
        self.fd = fd

    def wait(self, timeout: float) -> bool:
        """Until the socket's name shows up (or the queue overflowed), at most ``timeout`` seconds;
        True when it did."""
        if self.fd is None:
            time.sleep(timeout)
            return False
        end = time.monotonic() + timeout
        while True:
            pause = self._woken + _MIN_WAKE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            left = end - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.fd], [], [], left)
            if not readable:
                return False
            self._woken = time.monotonic()
            if self._seen():
                return True

    def _seen(self) -> bool:
        try:
            data = os.read(self.fd, 65536)  # type: ignore[arg-type]
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return False
            raise
        offset = 0
        while offset + _EVENT.size <= len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW or name == self.name:
                return True
        return False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, server: Server, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._server = server

    def connect(self) -> None:
        self.sock = self._server.connect(timeout=self.timeout)


class Server:
    """A running sandboxed app. Use as a context manager, or call ``stop()``."""

    def __init__(self, sandbox: SandboxRun, socket_name: str) -> None:
        self._sandbox = sandbox
        self.socket_name = socket_name
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._result: Result | None = None
        self._lock = threading.Lock()
        # Written once by stop(): the supervisor sees the stop at once, not at its next tick.
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._supervise, name="sandbox-serve", daemon=True)

    def _supervise(self) -> None:
        try:
            self._sandbox.supervise(stop=self._stop, wake_fd=self._wake_r)
        except BaseException as exc:  # reported by stop()
            self._error = exc

    @property
    def alive(self) -> bool:
        """The app's sandbox is still running."""
        return self._thread.is_alive()

    def cpu_seconds(self) -> float | None:
        """CPU seconds the app has used so far, all its processes together (None without CPU accounting).

        Read live from the run's cgroup; after ``stop()``, the Result's figure.
        """
        if self._result is not None:
            return self._result.cpu_time
        return self._sandbox.cpu_seconds()

    def cpu_wait_seconds(self) -> float | None:
        """Seconds the app's tasks have waited so far for a CPU that other work held (None where not
        measured): how much a busy host has stretched ``wall_seconds()``."""
        if self._result is not None:
            return self._result.cpu_wait
        return self._sandbox.cpu_wait_seconds()

    def wall_seconds(self) -> float:
        """Seconds since the app's command started."""
        if self._result is not None:
            return self._result.wall_time
        started = self._sandbox.t_started
        return 0.0 if started is None else time.monotonic() - started

    def socket_fd(self) -> int:
        """An O_PATH descriptor of the app's socket as it is now, for the caller to close.

        Opened without following a symlink and checked to be a socket: connecting to
        ``/proc/self/fd/<fd>`` (or ``/proc/<pid>/fd/<fd>`` from another process of the same user)
        reaches exactly that socket, whatever the app later puts at its name. Raises OSError if
        there is no socket there (yet).
        """
        work_fd = self._sandbox.work_fd
        if work_fd is None or not self.alive:
            raise ConnectionRefusedError("the sandboxed app is not running")
        fd = os.open(self.socket_name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=work_fd)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise OSError(f"{self.socket_name} in the work directory is not a socket")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def connect(self, *, timeout: float | None = 10.0) -> socket.socket:
        """A new connection to the app's socket. Raises OSError if it is not (yet) listening."""
        fd = self.socket_fd()
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                # Connecting via the O_PATH fd reaches exactly the inode checked above.
                sock.connect(f"/proc/self/fd/{fd}")
            except BaseException:
                sock.close()
                raise
            return sock
        finally:
            os.close(fd)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> HttpResponse:
        """One HTTP/1.1 request over the unix socket; the body is read up to ``max_bytes``."""
        conn = _UnixHTTPConnection(self, timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            data = response.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise OSError(f"response body larger than {max_bytes} bytes")
            return HttpResponse(status=response.status, headers=dict(response.getheaders()), body=data)
        finally:
            conn.close()

    def stop(self, *, grace: float = 1.0) -> Result:
        """SIGTERM the app, SIGKILL everything of the run after ``grace`` seconds, tear down and
        return the Result. Idempotent.

        ``grace=0`` kills at once, without a SIGTERM: for an app whose work is over and whose
        copy of the tree is thrown away, a graceful shutdown only costs time and CPU.
        """
        with self._lock:
            if self._result is not None:
                return self._result
            self._sandbox.stop_grace = grace
            self._stop.set()
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"1")
            try:
                self._thread.join(timeout=grace + 30)
                if self._thread.is_alive():
                    self._sandbox.kill()
                    self._thread.join(timeout=10)
            finally:
                if not self._thread.is_alive():
                    for fd in (self._wake_r, self._wake_w):
                        os.close(fd)
            if self._error is not None or self._thread.is_alive():
                self._sandbox._abort()
                raise SandboxError(f"supervising the served app failed: {self._error!r}") from self._error
            self._result = self._sandbox.finish()
            return self._result

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    *,
    argv: Sequence[str],
    workdir: Path,
    socket: str = "app.sock",
    runtime: Runtime | None = None,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
    config: SandboxConfig | None = None,
    ready_timeout: float = 30.0,
    give_up: Callable[[Server], str | None] | None = None,
    copy_back: bool = False,
    services: Sequence[Service] = (),
) -> Server:
    """Start ``argv`` in a sandbox and wait until it accepts connections on ``/work/<socket>``.

    The app finds the path in ``$PORTAL_SOCKET``. If it exits, hits a limit or does not accept a
    connection within ``ready_timeout`` seconds of wall clock, everything is stopped and ServeError
    is raised with the Result. ``give_up``, if given, is asked while waiting (with the server, whose
    ``cpu_seconds()`` and ``cpu_wait_seconds()`` say what the app used); a reason it returns ends the
    wait the same way, so the caller can judge start-up on the app's CPU rather than on a clock a
    busy host stretches. ``limits.wall_time`` bounds the server's whole life. ``services`` are
    started first in the same sandbox, as with ``run()``.
    """
    if not socket or "/" in socket or socket in (".", ".."):
        raise ValueError(f"socket must be a plain file name in the work directory, not {socket!r}")
    sandbox = SandboxRun(
        argv=argv,
        workdir=workdir,
        runtime=runtime,
        limits=limits or Limits(wall_time=600),
        env={"PORTAL_SOCKET": f"{WORK}/{socket}", **(env or {})},
        stdin=None,
        config=config,
        copy_back=copy_back,
        services=services,
    )
    sandbox.start()
    try:
        server = Server(sandbox, socket)
    except BaseException:
        sandbox._abort()
        raise
    server._thread.start()
    deadline = time.monotonic() + ready_timeout
    watch = _SocketWatch(sandbox.work_fd, socket) if sandbox.work_fd is not None else None
    try:
        while True:
            if not server.alive:
                result = server.stop()
                raise ServeError(f"the app ended before it was ready ({result.describe()})", result=result)
            with contextlib.suppress(OSError):
                server.connect(timeout=1.0).close()
                return server
            if time.monotonic() > deadline:
                result = server.stop(grace=0)
                raise ServeError(f"the app did not accept connections within {ready_timeout:g}s", result=result)
            reason = give_up(server) if give_up is not None else None
            if reason:
                result = server.stop(grace=0)
                raise ServeError(f"the app did not accept connections: {reason}", result=result)
            if watch is not None:
                watch.wait(_READY_POLL)
            else:
                time.sleep(_READY_POLL)
    finally:
        if watch is not None:
            watch.close()
