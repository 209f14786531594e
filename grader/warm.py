"""A warm interpreter for the trusted hidden-test runs: pytest, httpx and the grader's plugins
imported once, then a fork per run.

Every hidden run is a pytest of the grader's (outside the sandbox, talking to the app over HTTP
only). Started cold, each one pays for its interpreter and for importing pytest, httpx and the
grader's plugins before its first test: about 0.3 to 0.6 CPU seconds, a third of what the grader
spends on the built-in suite. ``WarmPytest`` keeps one server process per interpreter that has
imported them and nothing else (no test, no candidate's byte has ever run in it); each run is a
fresh fork of it, so no state passes from one run to the next, and the fork runs pytest as
``python -m pytest`` would, with the run's own environment, folder, arguments and output file.

The server (``python -m grader.warm``) reads one request per line on its standard input, forks,
writes ``{"pid": n}``, waits for that child and writes ``{"status": s, "cpu": seconds}`` (its wait
status and its exact CPU from its rusage). The caller watches the child through its pid (a pidfd
wakes it when it exits, its clocks are read from /proc) and kills its session as it would kill a
pytest of its own. The server ends when its standard input closes (the caller's process ended),
killing a run still going. ``random``'s state and tempfile's names are drawn again in every fork
(Python does it at fork); the hash seed is the server's, drawn when it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Seconds a run waits for a server being started in the background before it starts one of its own.
STARTING_WAIT = 30
# The folder holding the grader package: the server's folder and first import path.
GRADER_ROOT = Path(__file__).resolve().parent.parent
# What every hidden run imports before its first test, whatever the assessment.
PRELOAD = ("pytest", "_pytest.junitxml", "httpx", "grader.plugin", "grader.http_caps", "grader.concurrency")


class WarmError(RuntimeError):
    """The warm server is gone or answered nonsense: the caller runs this pytest cold instead."""


@dataclass(eq=False)
class WarmRun:
    """A pytest forked by the warm server: its pid (its own session), and how it ended once it has."""

    pid: int
    server: WarmPytest
    status: int | None = None  # os.wait status
    cpu: float | None = None  # user + system seconds, from its rusage

    def fileno(self) -> int:
        """Readable once the pytest has ended: the server's answer is on its way."""
        return self.server._process.stdout.fileno()  # type: ignore[union-attr]

    def ended(self) -> tuple[int, float] | None:
        """Its wait status and CPU seconds if it has ended, without waiting."""
        if self.status is None:
            ready, _, _ = select.select([self], [], [], 0)
            if not ready:
                return None
        return self.finished()

    def finished(self) -> tuple[int, float]:
        """Its wait status and CPU seconds, waiting for it to end. Should the server be gone (killed),
        the fork went with it: it ended as if killed, its CPU unknown (0)."""
        if self.status is None:
            try:
                reply = self.server._read()
                self.status, self.cpu = int(reply["status"]), float(reply["cpu"])
            except WarmError:
                self.status, self.cpu = int(signal.SIGKILL), 0.0
            finally:
                self.server._lock.release()
        return self.status, self.cpu  # type: ignore[return-value]

    def kill(self) -> None:
        """Kill its session. The server does it, having not reaped it yet: its pid is still its own."""
        if self.status is not None:
            return
        # If the server is gone, so is its fork (it dies with its parent, see _child).
        with contextlib.suppress(OSError, AttributeError):
            self.server._process.stdin.write(b"kill\n")  # type: ignore[union-attr]


@dataclass(eq=False)
class WarmPytest:
    """One warm server for ``python``; ``start`` forks a pytest of it (one at a time)."""

    python: str
    env: dict[str, str]
    starting: bool = False  # warm_prestart is starting it
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self, args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> WarmRun:
        """Fork a pytest with ``args`` in ``cwd`` with exactly ``env``, its output into ``log``; the
        caller holds ``_lock`` (warm_start), released once the run has ended. WarmError if the server
        cannot start or is gone."""
        try:
            process = self._server()
            request = {"args": args, "cwd": str(cwd), "env": env, "log": str(log)}
            process.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[union-attr]
            pid = int(self._read()["pid"])
        except BaseException:
            self.close()
            self._lock.release()
            raise
        return WarmRun(pid=pid, server=self)

    def close(self) -> None:
        """Stop the server (a run still going is killed with it)."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # type: ignore[union-attr]
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(OSError):
                process.stdout.close()  # type: ignore[union-attr]

    def _server(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.close()
        try:
            self._process = subprocess.Popen(
                [self.python, "-m", "grader.warm"],
                # Unbuffered both ways: a reply is never read ahead of the select() that waits for it.
                bufsize=0,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=GRADER_ROOT,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            raise WarmError(f"the warm server could not start: {exc}") from exc
        ready = self._read()
        if ready.get("ready") is not True:
            raise WarmError(f"the warm server did not start: {ready}")
        return self._process

    def _read(self) -> dict:
        process = self._process
        line = process.stdout.readline() if process is not None else b""  # type: ignore[union-attr]
        if not line:
            self.close()
            raise WarmError("the warm server ended")
        try:
            reply = json.loads(line)
        except ValueError as exc:
            self.close()
            raise WarmError(f"the warm server answered {line[:200]!r}") from exc
        if "error" in reply:
            raise WarmError(f"the warm server could not fork: {reply['error']}")
        return reply


# This process's servers, by interpreter and environment: as many as it ever ran pytests at once.
_SERVERS: dict[tuple[str, tuple[tuple[str, str], ...]], list[WarmPytest]] = {}
_SERVERS_LOCK = threading.Lock()


def warm_start(
    python: str, server_env: dict[str, str], args: list[str], *, cwd: Path, env: dict[str, str], log: Path
) -> WarmRun:
    """``python -m pytest <args>`` as a fork of a free warm server of this process for ``python``
    started with ``server_env`` (one more is started when all are busy). WarmError if it cannot."""
    server = _free_server(python, server_env)
    return server.start(args, cwd=cwd, env=env, log=log)


def _free_server(python: str, server_env: dict[str, str]) -> WarmPytest:
    """A server of this process for ``python`` and ``server_env``, its lock taken: a free one, one
    being started (warm_prestart) once it is ready, or a new one."""
    key = (python, tuple(sorted(server_env.items())))
    with _SERVERS_LOCK:
        servers = _SERVERS.setdefault(key, [])
        for server in servers:
            if server._lock.acquire(blocking=False):
                return server
        starting = next((server for server in servers if server.starting), None)
        if starting is None:
            server = WarmPytest(python=python, env=server_env)
            server._lock.acquire()
            servers.append(server)
            return server
    # Waited for outside the registry's lock; past a bound (a server slow to import), one more.
    if starting._lock.acquire(timeout=STARTING_WAIT):
        return starting
    with _SERVERS_LOCK:
        server = WarmPytest(python=python, env=server_env)
        server._lock.acquire()
        _SERVERS[key].append(server)
        return server


def warm_prestart(python: str, server_env: dict[str, str]) -> threading.Thread | None:
    """Start a server for ``python`` and ``server_env`` in a thread, unless this process has one: a
    worker process does it as it starts, so that its first run does not wait for the imports."""
    key = (python, tuple(sorted(server_env.items())))
    with _SERVERS_LOCK:
        servers = _SERVERS.setdefault(key, [])
        server = servers[0] if servers else None
        if server is None:
            server = WarmPytest(python=python, env=server_env)
            servers.append(server)
        if server._process is not None or not server._lock.acquire(blocking=False):
            return None  # started, or in use: nothing to do
        server.starting = True

    def start() -> None:
        try:
            server._server()
        except WarmError:
            pass  # the first run says why, and runs cold
        finally:
            server.starting = False
            server._lock.release()

    thread = threading.Thread(target=start, name="grader-warm-up", daemon=True)
    thread.start()
    return thread


# The server side: `python -m grader.warm`.


def _child(request: dict, server: int) -> None:
    """In the fork: become `python -m pytest <args>` in the run's folder, with its environment."""
    code = 3
    try:
        # It dies with the server, whatever ends it: no pytest outlives the process that watches it.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server:
            os._exit(code)
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        # As `python -m pytest` run from that folder: it comes first on the import path.
        sys.path[0] = os.getcwd()
        importlib.invalidate_caches()
        sys.argv = ["pytest", *request["args"]]
        import pytest

        try:
            code = int(pytest.main(request["args"]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # whatever happened, the fork ends here
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    # Nothing of the server's own writes to the pipes the forks inherit as 0, 1 and 2.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    reply.write(json.dumps({"ready": True}) + "\n")
    server = os.getpid()
    while line := requests.readline():
        try:
            request = json.loads(line)
            pid = os.fork()
        except (ValueError, OSError) as exc:
            reply.write(json.dumps({"error": str(exc)}) + "\n")
            continue
        if pid == 0:
            requests.close()
            reply.close()
            _child(request, server)
        reply.write(json.dumps({"pid": pid}) + "\n")
        exited = os.pidfd_open(pid)
        try:
            while True:
                ready, _, _ = select.select([exited, requests], [], [])
                if requests in ready:
                    word = requests.readline()
                    # "kill", or the caller's process ended: nothing of its runs outlives it. Not reaped
                    # yet, the fork still owns its pid and session.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    if not word:
                        os.waitpid(pid, 0)
                        return
                elif exited in ready:
                    break
        finally:
            os.close(exited)
        _, status, rusage = os.wait4(pid, 0)
        reply.write(json.dumps({"status": status, "cpu": rusage.ru_utime + rusage.ru_stime}) + "\n")


if __name__ == "__main__":
    serve()
