"""A streaming bridge from a WSGI request to `git http-backend` (CGI).

Framework-free. The request body is copied from ``wsgi.input`` to the backend in a
thread while the response is read, because receive-pack does not buffer: writing the
whole body before reading would deadlock on a large push. git 2.39's http-backend
spins at 100% CPU when its input ends early, so the copier counts bytes and kills
the backend on a short body, a watchdog kills it after a time limit, and closing
the response (the client went away) kills and reaps it too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import gitplumbing

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024


class BackendError(RuntimeError):
    pass


@dataclass
class BackendRequest:
    method: str
    git_dir: str  # absolute path of the bare repository
    service_path: str  # "info/refs", "git-upload-pack" or "git-receive-pack"
    query_string: str
    content_type: str
    content_length: int | None  # None for a chunked body
    body: BinaryIO
    remote_user: str
    remote_addr: str
    content_encoding: str = ""
    git_protocol: str = ""
    # git configuration for this request, after gitplumbing.SAFE_CONFIG (GIT_CONFIG_COUNT: git and
    # everything it starts, hooks included, see it as given with `git -c`).
    config: list[tuple[str, str]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class BackendResponse:
    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    process: subprocess.Popen
    stderr_tail: bytearray
    short_body: threading.Event
    stderr_reader: threading.Thread

    def close(self) -> None:
        """Stop the backend if it still runs and reap it; safe to call at any time, repeatedly.
        Once closed, ``stderr_tail`` holds everything git wrote (its reason for a 500, say)."""
        self.body.close()
        _kill(self.process)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.error("git http-backend %s did not exit after SIGKILL", self.process.pid)
        self.stderr_reader.join(timeout=5)


def _environment(request: BackendRequest) -> dict[str, str]:
    root, name = os.path.split(request.git_dir.rstrip("/"))
    config = [*gitplumbing.SAFE_CONFIG, *request.config]
    env = {
        **gitplumbing.base_env(),
        # What gitplumbing.command gives with `-c`: the same safe configuration, through the environment.
        "GIT_CONFIG_COUNT": str(len(config)),
        **{f"GIT_CONFIG_KEY_{index}": key for index, (key, _value) in enumerate(config)},
        **{f"GIT_CONFIG_VALUE_{index}": value for index, (_key, value) in enumerate(config)},
        "GIT_PROJECT_ROOT": root,
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{name}/{request.service_path}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.content_type,
        # receive-pack refuses anonymous pushes: the portal has authenticated the user.
        "REMOTE_USER": request.remote_user,
        "REMOTE_ADDR": request.remote_addr,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    if request.content_encoding:
        env["HTTP_CONTENT_ENCODING"] = request.content_encoding
    if request.git_protocol:
        env["HTTP_GIT_PROTOCOL"] = request.git_protocol
    env.update(request.extra_env)
    return env


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _copy_body(request: BackendRequest, process: subprocess.Popen, short_body: threading.Event) -> None:
    remaining = request.content_length
    try:
        while remaining is None or remaining > 0:
            size = CHUNK if remaining is None else min(CHUNK, remaining)
            chunk = request.body.read(size)
            if not chunk:
                break
            process.stdin.write(chunk)
            if remaining is not None:
                remaining -= len(chunk)
        if remaining:
            # The client stopped sending before CONTENT_LENGTH bytes: the backend would spin.
            short_body.set()
            _kill(process)
    except (BrokenPipeError, ConnectionError, OSError):
        # The backend exited early (refused the request) or the client went away.
        if remaining:
            short_body.set()
        _kill(process)
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _drain(stream: BinaryIO, tail: bytearray) -> None:
    for line in iter(stream.readline, b""):
        tail.extend(line)
        del tail[:-8192]


def _read_headers(stdout: BinaryIO) -> tuple[int, list[tuple[str, str]], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:
        chunk = stdout.read1(CHUNK)
        if not chunk:
            raise BackendError("git http-backend ended before sending its headers")
        buffer += chunk
        if len(buffer) > MAX_HEADER_BYTES:
            raise BackendError("git http-backend sent oversized headers")
    separator = (
        b"\r\n\r\n"
        if b"\r\n\r\n" in buffer and (b"\n\n" not in buffer or buffer.index(b"\r\n\r\n") < buffer.index(b"\n\n"))
        else b"\n\n"
    )
    head, rest = buffer.split(separator, 1)
    status = 200
    headers = []
    for line in head.decode("latin-1").splitlines():
        if not line.strip():
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((name, value))
    return status, headers, rest


def run_backend(request: BackendRequest, *, timeout: float) -> BackendResponse:
    """Start git http-backend for ``request`` and return its status, headers and streamed body.

    The caller must exhaust or close ``response.body``; closing it kills and reaps the
    backend. ``timeout`` bounds the whole exchange.
    """
    # Streamed both ways for the length of a clone or push, so not gitplumbing.run; the same
    # environment and safe configuration all the same.
    process = subprocess.Popen(
        gitplumbing.program("http-backend"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(request),
        start_new_session=True,  # its own process group, so hooks die with it
    )
    short_body = threading.Event()
    stderr_tail = bytearray()
    copier = threading.Thread(target=_copy_body, args=(request, process, short_body), daemon=True)
    copier.start()
    stderr_reader = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
    stderr_reader.start()
    watchdog = threading.Timer(timeout, _kill, args=(process,))
    watchdog.daemon = True
    watchdog.start()
    try:
        status, headers, first = _read_headers(process.stdout)
    except BackendError:
        watchdog.cancel()
        _kill(process)
        process.wait()
        copier.join(timeout=5)
        if short_body.is_set():
            raise BackendError("the request body ended early") from None
        raise
    return BackendResponse(
        status=status,
        headers=headers,
        body=_stream(process, first, copier, watchdog),
        process=process,
        stderr_tail=stderr_tail,
        short_body=short_body,
        stderr_reader=stderr_reader,
    )


def _stream(process: subprocess.Popen, first: bytes, copier: threading.Thread, watchdog: threading.Timer):
    started = time.monotonic()
    finished = False
    try:
        if first:
            yield first
        while chunk := process.stdout.read1(CHUNK):
            yield chunk
        finished = True
    finally:
        watchdog.cancel()
        if not finished:
            # The client went away (the server closed this generator) or sending failed:
            # nobody reads the rest, so the backend must not be left running.
            _kill(process)
        copier.join(timeout=10)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.wait()
        process.stdout.close()
        logger.debug("git http-backend exited %s after %.2fs", process.returncode, time.monotonic() - started)
