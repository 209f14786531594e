"""Run an assessment's candidate code in the sandbox: the grader's Runner, for real.

Framework-free glue between ``sandbox`` (bubblewrap, limits) and the assessment's
grader (``grader``): the candidate's app is served inside the sandbox
on a unix socket in its work directory, and the trusted grader connects to it directly through
a host path linked to the worker's descriptor of that socket (``Server.socket_fd()``, which
refuses a socket the candidate swapped for a symlink). The visible tests run in the
sandbox on a scratch copy of the tree and their JUnit report is read back without
following symlinks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from grader.clock import WALL_FACTOR, Usage
from grader.local import AppStartError, BuildError, build_failure, start_up_failure, wait_until_ready
from grader.manifest import Manifest
from grader.run import VisibleRun
from grader.sockets import socket_folder
from sandbox import (
    Limits,
    MiB,
    PostgreSQL,
    Redis,
    Result,
    Runtime,
    ServeError,
    Server,
    Service,
    postgres_template,
    read_file,
    run,
    runtime_build,
    runtime_key,
    serve,
)
from sandbox.runtime import (
    PYTHON,
    go_build_argv,
    go_runtime_build,
    go_runtime_key,
    node_runtime_build,
    node_runtime_key,
)

IN_SANDBOX_WORK = "/work"
APP_SOCKET = "app.sock"
JUNIT_NAME = ".portal-visible-junit.xml"
MAX_JUNIT_BYTES = 8 * MiB


def manifest_runtime(manifest: Manifest, *, runtimes_dir: Path) -> Runtime:
    """The runtime for the assessment's pinned requirements (built once per requirements hash).

    Always the assessment's own requirements file, never the candidate's copy of it; on the
    interpreter of its [runtime] python (grader.manifest refuses a version this host lacks). For a
    package on Node.js, the host's node with its package.json and lockfile's dependencies (npm ci),
    built once per lockfile and node. For a package in Go, the host's go with its standard library
    compiled once per go (the tree's vendored modules are compiled by its build step).
    """
    if manifest.runtime_kind == "go":
        return go_runtime_build(root=runtimes_dir, go=manifest.interpreter)
    if manifest.runtime_kind == "node":
        return node_runtime_build(
            project=manifest.shipped_dir, lockfile=manifest.requirements, root=runtimes_dir, node=manifest.interpreter
        )
    return runtime_build(
        requirements=manifest.shipped_dir / manifest.requirements, root=runtimes_dir, python=manifest.interpreter
    )


def manifest_runtime_key(manifest: Manifest) -> str:
    """The key (the folder's name under the runtimes folder) of manifest_runtime's runtime."""
    if manifest.runtime_kind == "go":
        return go_runtime_key(go=manifest.interpreter)
    if manifest.runtime_kind == "node":
        return node_runtime_key(project=manifest.shipped_dir, lockfile=manifest.requirements, node=manifest.interpreter)
    return runtime_key(requirements=manifest.shipped_dir / manifest.requirements, python=manifest.interpreter)


def manifest_services(manifest: Manifest, *, services_dir: Path) -> tuple[Service, ...]:
    """The services the manifest declares ([services]), each started fresh beside every run.

    postgresql: a PostgreSQL server made from the template cluster under ``services_dir``
    (initdb once per host and server version, sandbox.services); redis: a Redis server (64 MiB,
    noeviction). () for a package without services.
    """
    made = {
        "postgresql": lambda: PostgreSQL(template=postgres_template(root=services_dir)),
        "redis": Redis,
    }
    return tuple(made[name]() for name in manifest.services)


START_OUTPUT_LINES = 20


def _start_failure(exc: ServeError, *, limit: float, wall_limit: float) -> AppStartError:
    """Why the app did not start, for the run's reason: what ended it, and how its output ended."""
    result = exc.result
    usage = _result_usage(result)
    why = start_up_failure(usage, limit=limit, wall_limit=wall_limit) if usage is not None else None
    if result is None or "did not accept" in str(exc):
        what = f"the app {why}" if why else f"the app did not start within its start-up limit of {limit:g} s"
    elif result.signal is not None:
        what = f"the app was killed by {result.signal_name} before it was ready"
    else:
        what = f"the app exited with code {result.exit_code} before it was ready"
    if result is not None and result.limits_hit:
        hits = ", ".join(str(hit).replace("_", " ") for hit in result.limits_hit)
        what += f" (the sandbox's {hits} limit fired)"
    output = (result.stderr + result.stdout) if result is not None else b""
    tail = output.decode(errors="replace").strip().splitlines()[-START_OUTPUT_LINES:]
    message = what + (":\n" + "\n".join(tail) if tail else "; it printed nothing")
    starved = usage is not None and usage.starved_at(limit, wall_limit=wall_limit)
    return AppStartError(message, usage=usage, starved=starved)


def _result_usage(result: Result | None) -> Usage | None:
    if result is None:
        return None
    return Usage(wall=result.wall_time, cpu=result.cpu_time, cpu_wait=result.cpu_wait)


def server_usage(server: Server) -> Usage:
    """What a served app has used since its command started: wall clock, CPU, waits for a CPU."""
    return Usage(wall=server.wall_seconds(), cpu=server.cpu_seconds(), cpu_wait=server.cpu_wait_seconds())


def _limits(manifest: Manifest, *, seconds: float, wall_time: float) -> Limits:
    """The sandbox's limits: ``seconds`` of CPU, and ``wall_time`` of wall clock (a safety net)."""
    limits = manifest.limits
    return Limits(
        wall_time=wall_time,
        cpu_time=seconds,
        memory=limits.get("memory_mb", 512) * MiB,
        processes=limits.get("processes", 64),
        disk=limits.get("disk_mb", 200) * MiB,
    )


class _SocketLink:
    """A host path that reaches the sandboxed app's socket itself: a symlink to this process's
    O_PATH descriptor of it (``Server.socket_fd``, which refuses a socket the candidate swapped for
    a symlink). The trusted grader connects straight to the app, nothing copies the bytes in
    between, and only ever to the socket that was checked once the app accepted a connection,
    whatever the app later puts at its name."""

    def __init__(self, folder: str, server: Server) -> None:
        self._fd = server.socket_fd()
        self.path = str(Path(folder) / APP_SOCKET)
        try:
            os.symlink(f"/proc/{os.getpid()}/fd/{self._fd}", self.path)
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        # The link goes first: the descriptor's number may be reused once it is closed.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)


@dataclass
class SandboxRunner:
    """The grader's Runner: start_app and run_visible_tests, both in the sandbox.

    services: those the manifest declares (manifest_services), started fresh beside the app and
    beside the visible tests; their settings (DATABASE_URL...) reach both through the environment,
    where the manifest's [app.env] may override them for the app.
    """

    manifest: Manifest
    runtime: Runtime
    # How each served app's sandbox ended (limit fired, exit, mechanisms), in start order.
    app_results: list[Result] = field(default_factory=list)
    # time.monotonic() past which nothing more runs: every limit below is cut to what is left.
    deadline: float | None = None
    # The services beside every run (manifest_services): required when the manifest declares some.
    services: tuple[Service, ...] = ()
    # The apps serving now, by the host socket path start_app yielded (for app_usage).
    _servers: dict[str, Server] = field(default_factory=dict, repr=False)
    # start_app serves a copy of the tree in the sandbox's own /work and copies nothing back: what
    # the app writes never reaches the tree, so grader.play.served need not copy it first.
    serves_a_copy: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.manifest.services and not self.services:
            raise ValueError(
                f"{self.manifest.slug} declares [services] {', '.join(self.manifest.services)}: give the runner "
                "services=manifest_services(manifest, services_dir=...)"
            )

    def within(self, seconds: float) -> float:
        """``seconds``, or less if the deadline comes first (at least a moment, so a step still ends cleanly)."""
        if self.deadline is None:
            return seconds
        return max(min(seconds, self.deadline - time.monotonic()), 0.5)

    @property
    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def app_usage(self, socket_path: str) -> Usage | None:
        """What the app serving on ``socket_path`` has used so far, read live from its sandbox."""
        server = self._servers.get(socket_path)
        return server_usage(server) if server is not None else None

    def build(self, workdir: Path) -> None:
        """The runtime's build step ([runtime] build), in the sandbox, in ``workdir``, whose files it
        leaves there (the app's binary, go's build cache): once per tree, before the app and the
        visible tests (which run on copies of it). Judged on its CPU time ([runtime]
        build_timeout_seconds; the wall clock is a net). Raises BuildError saying how it ended, with
        its output's last lines. Nothing to do without a build step (python and node packages)."""
        command = self.manifest.build_argv(self.runtime.interpreter)
        if not command:
            return
        limit = self.manifest.build_timeout
        wall_limit = self.within(WALL_FACTOR * limit)
        result = run(
            argv=go_build_argv(command, self.runtime),
            workdir=workdir,
            runtime=self.runtime,
            limits=_limits(self.manifest, seconds=limit, wall_time=wall_limit),
            env=self.runtime.env,
        )
        if result.exit_code == 0 and not result.limits_hit:
            return
        if result.limit == "cpu_time":
            what = f"was stopped at its CPU limit of {limit:g} s"
        elif result.limit == "wall_time":
            what = f"did not finish within the wall clock's limit of {wall_limit:.0f} s"
        elif result.signal is not None:
            what = f"was killed by {result.signal_name}"
        else:
            what = f"exited with code {result.exit_code}"
        if result.limits_hit and result.limit not in ("cpu_time", "wall_time"):
            hits = ", ".join(str(hit).replace("_", " ") for hit in result.limits_hit)
            what += f" (the sandbox's {hits} limit fired)"
        usage = _result_usage(result)
        starved = result.limit == "wall_time" and usage is not None and usage.starved_at(limit, wall_limit=wall_limit)
        output = (result.stderr + result.stdout).decode(errors="replace")
        raise BuildError(build_failure(what, output), usage=usage, starved=starved)

    @contextlib.contextmanager
    def start_app(self, workdir: Path) -> Iterator[str]:
        """Serve the tree in ``workdir`` in the sandbox; yield a host socket path that reaches it.

        Must be used from one thread for its whole life: the sandbox dies with the thread
        that started it.
        """
        app = self.manifest.app
        in_socket = f"{IN_SANDBOX_WORK}/{APP_SOCKET}"
        argv = app.command(self.runtime.interpreter, socket=in_socket, workdir=IN_SANDBOX_WORK)
        # The app is killed once the hidden tests are done (no graceful stop): unbuffered, what it
        # printed is in its output rather than lost in a buffer. [app.env] may say otherwise.
        unbuffered = {"PYTHONUNBUFFERED": "1"} if self.runtime.kind == PYTHON else {}
        env = {**unbuffered, **self.runtime.env, **app.environment(socket=in_socket, workdir=IN_SANDBOX_WORK)}
        # Judged on the app's CPU and own time; the wall clock is a net (and cut by the deadline).
        startup = app.startup_timeout
        wall_limit = self.within(WALL_FACTOR * startup)
        life = self.manifest.limits.get("app_wall_seconds", 180)
        try:
            server = serve(
                argv=argv,
                workdir=workdir,
                socket=APP_SOCKET,
                runtime=self.runtime,
                limits=_limits(self.manifest, seconds=life, wall_time=self.within(WALL_FACTOR * life)),
                env=env,
                services=self.services,
                # give_up says why first, with the figures; this is only its backstop.
                ready_timeout=wall_limit + 1,
                give_up=lambda server: start_up_failure(server_usage(server), limit=startup, wall_limit=wall_limit),
            )
        except ServeError as exc:
            self.app_results.append(exc.result)
            raise _start_failure(exc, limit=startup, wall_limit=wall_limit) from exc
        host_dir = socket_folder()
        try:
            link = _SocketLink(host_dir, server)
        except BaseException:
            self.app_results.append(server.stop(grace=0))
            shutil.rmtree(host_dir, ignore_errors=True)
            raise
        self._servers[link.path] = server
        try:
            # Accepting connections is not yet being ready: the same clocks, from the app's start.
            wait_until_ready(
                link.path,
                app.ready_path,
                startup,
                usage=lambda: server_usage(server),
                wall_timeout=wall_limit,
            )
            yield link.path
        finally:
            self._servers.pop(link.path, None)
            link.close()
            # Killed at once: its work is done, its copy of the tree is thrown away, and a graceful
            # shutdown (uvicorn's, the interpreter's) would only cost time and CPU.
            self.app_results.append(server.stop(grace=0))
            shutil.rmtree(host_dir, ignore_errors=True)

    def run_visible_tests(self, workdir: Path) -> VisibleRun:
        """The project's own tests, in the sandbox, on a scratch copy of ``workdir``."""
        with tempfile.TemporaryDirectory(prefix="visible-") as scratch:
            tree = Path(scratch) / "tree"
            shutil.copytree(workdir, tree, symlinks=True)
            command = self.manifest.visible_test_command(
                self.runtime.interpreter, junit=f"{IN_SANDBOX_WORK}/{JUNIT_NAME}"
            )
            started = time.monotonic()
            timeout = self.manifest.visible_timeout
            limits = _limits(self.manifest, seconds=timeout, wall_time=self.within(WALL_FACTOR * timeout))
            result = run(
                argv=command,
                workdir=tree,
                runtime=self.runtime,
                # go test's report is its standard output (grader.gotest): kept up to a report's cap.
                limits=replace(limits, output=MAX_JUNIT_BYTES) if self.runtime.kind == "go" else limits,
                env=self.runtime.env,
                services=self.services,
            )
            duration = time.monotonic() - started
            returncode = result.exit_code if result.exit_code is not None else 128 + (result.signal or 0)
            if self.runtime.kind == "go":
                visible = VisibleRun.from_go_test(
                    self.manifest,
                    result.stdout,
                    returncode=returncode,
                    duration=duration,
                    errors=result.stderr.decode(errors="replace"),
                )
                return replace(visible, cpu=result.cpu_time)
            junit = Path(scratch) / "junit.xml"
            # No readable report (none written, or a symlink planted instead): no outcomes recorded.
            with contextlib.suppress(OSError):
                junit.write_bytes(read_file(tree, JUNIT_NAME, max_bytes=MAX_JUNIT_BYTES))
            output = (result.stdout + result.stderr).decode(errors="replace")
            visible = VisibleRun.from_junit(
                self.manifest, junit, returncode=returncode, duration=duration, output=output[-20000:]
            )
            return replace(visible, cpu=result.cpu_time)
