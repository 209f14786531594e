"""Running the candidate's code as plain local subprocesses, without a sandbox.

For authoring and for validating the assessment itself only: candidate code
must be run in the portal's sandbox, which provides the same two operations
(start_app and run_visible_tests, see validate.Runner).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandbox.runtime import go_env

from .clock import WALL, WALL_FACTOR, TaskClock, Usage
from .manifest import Manifest
from .run import OUTPUT_TAIL, GraderError, VisibleRun, trusted_env
from .sockets import socket_folder


class BuildError(RuntimeError):
    """The project's build step ([runtime] build) failed: it did not compile, or ran out of its limits.

    The message says how it ended, then the build's last output lines. ``starved``: only the wall
    clock's net stopped it while its own work stayed well below its CPU limit (grader.clock): the
    host was too busy, the build was not too slow.
    """

    def __init__(self, message: str, *, usage: Usage | None = None, starved: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
        self.starved = starved


class AppStartError(RuntimeError):
    """The app did not start serving its ready path in time (or ended before it did).

    For a time limit, ``usage`` has the figures; ``starved`` says that only the wall clock's net
    ended the wait while the app's own work stayed well below its limit (grader.clock): the host
    was too busy, the app was not too slow.
    """

    def __init__(self, message: str, *, usage: Usage | None = None, starved: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
        self.starved = starved


class ServicesNeedTheSandbox(GraderError):
    """The package declares [services]: only the portal's sandbox starts them (a fresh one per run)."""


def start_up_failure(usage: Usage, *, limit: float, wall_limit: float | None = None) -> str | None:
    """Why an app whose start-up used ``usage`` is past its start-up ``limit`` ("did not start within
    ..."), or None if it is not.

    Judged on the app's CPU and own time (grader.clock); the wall clock only at ``wall_limit``
    (WALL_FACTOR times the limit by default), its safety net.
    """
    clock = usage.past(limit, wall_limit=wall_limit)
    if clock is None:
        return None
    if clock != WALL or (usage.cpu is None and usage.own is None):
        return f"did not start within its start-up limit of {limit:g} s ({usage.describe()})"
    net = limit * WALL_FACTOR if wall_limit is None else wall_limit
    busy = ", the host being too busy" if usage.starved_at(limit, wall_limit=wall_limit) else ""
    return f"did not start within the wall clock's limit of {net:.0f} s{busy} ({usage.describe()})"


def wait_until_ready(
    socket_path: str,
    ready_path: str,
    timeout: float,
    process: subprocess.Popen | None = None,
    *,
    usage: Callable[[], Usage] | None = None,
    wall_timeout: float | None = None,
) -> float:
    """Poll GET ready_path on the socket until it answers 200; returns the seconds waited.

    With ``usage`` (what the app has used since it started), the ``timeout`` is judged on the app's
    CPU and own time, and the wall clock stops the wait at ``wall_timeout`` (start_up_failure);
    without it, on the wall clock at ``timeout``.
    """
    started = time.monotonic()
    wall_limit = wall_timeout if usage is not None else timeout
    # Plain HTTP over a unix socket: no TLS context (loading the CA bundle costs ~30 ms of CPU per start).
    transport = httpx.HTTPTransport(uds=socket_path, verify=False, limits=httpx.Limits(max_keepalive_connections=0))
    # The Host any local client sends: nothing tells these requests from another client's.
    with httpx.Client(transport=transport, base_url="http://localhost:8000", timeout=1.0, trust_env=False) as http:
        while True:
            if process is not None and process.poll() is not None:
                raise AppStartError(f"the app exited with code {process.returncode} before it was ready")
            if os.path.exists(socket_path):
                try:
                    if http.get(ready_path).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            used = usage() if usage is not None else Usage(wall=time.monotonic() - started)
            why = start_up_failure(used, limit=timeout, wall_limit=wall_limit)
            if why is not None:
                raise AppStartError(
                    f"the app {why}; {ready_path} never answered 200",
                    usage=used,
                    starved=used.starved_at(timeout, wall_limit=wall_limit),
                )
            time.sleep(0.05)


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started in its own session, and whatever it started: TERM, then KILL."""
    if process.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue


@dataclass
class LocalRunner:
    """Starts the app and runs the visible tests as local subprocesses of `python`.

    A package that declares [services] is refused (ServicesNeedTheSandbox): only the sandbox starts them.

    python: an interpreter that has the shipped project's requirements installed. For a package on
    Node.js, a node (the manifest's, /usr/bin/node, when this Python is given: `python -m grader`'s
    default); its dependencies are found through the NODE_PATH of the author's environment, if set
    (for example the node_modules folder of an `npm ci` of the project's lockfile).
    """

    manifest: Manifest
    python: str = sys.executable
    _apps: dict[str, tuple[TaskClock, float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.manifest.services:
            # A service is started per run inside the sandbox (sandbox.services); a local process has no
            # such server, and the author's own database would be shared between runs and states.
            raise ServicesNeedTheSandbox(
                f"{self.manifest.slug} declares [services] {', '.join(self.manifest.services)}: its app and tests "
                "need a fresh server per run, which only the sandbox starts; validate it with "
                "`python manage.py validate_assessment <package>`"
            )
        if self.manifest.runtime_kind in ("node", "go") and self.python == sys.executable:
            self.python = self.manifest.interpreter

    def _env(self, workdir: Path, **extra: str) -> dict[str, str]:
        """trusted_env, with the author's NODE_PATH for a package on Node.js, and go's settings (no
        download, caches in ``workdir``: sandbox.runtime.go_env) for a package in Go."""
        if self.manifest.runtime_kind == "node" and os.environ.get("NODE_PATH"):
            extra = {"NODE_PATH": os.environ["NODE_PATH"], **extra}
        if self.manifest.runtime_kind == "go":
            extra = {**go_env(str(Path(workdir).absolute())), "HOME": str(Path(workdir).absolute()), **extra}
        return trusted_env(**extra)

    def app_usage(self, socket_path: str) -> Usage | None:
        """What the app serving on ``socket_path`` has used since it started (its processes and their threads)."""
        app = self._apps.get(socket_path)
        if app is None:
            return None
        clock, started = app
        clock.sample()
        return clock.usage(time.monotonic() - started)

    def build(self, workdir: Path) -> None:
        """The runtime's build step ([runtime] build) in ``workdir``, once per tree before the app and
        tests run. Raises BuildError with the end of its output. Nothing to do without a build step."""
        command = self.manifest.build_argv(self.python)
        if not command:
            return
        limit = self.manifest.build_timeout
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=self._env(workdir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that stop_process ends the compilers it started too
        )
        try:
            # A safety net only, like the visible tests' (grader.clock).
            output, _ = process.communicate(timeout=limit * WALL_FACTOR)
        except subprocess.TimeoutExpired:
            stop_process(process, grace=1)
            output, _ = process.communicate()
            what = f"did not finish within {limit * WALL_FACTOR:.0f} s"
            raise BuildError(build_failure(what, _text(output))) from None
        finally:
            stop_process(process, grace=1)
        if process.returncode != 0:
            raise BuildError(build_failure(f"exited with code {process.returncode}", _text(output)))

    @contextmanager
    def start_app(self, workdir: Path) -> Iterator[str]:
        """Serve the app of the tree in workdir on a fresh unix socket; yields the socket's path."""
        run_dir = Path(socket_folder())
        socket_path = str(run_dir / "app.sock")
        app = self.manifest.app
        command = app.command(self.python, socket=socket_path, workdir=str(workdir))
        env = self._env(workdir, **app.environment(socket=socket_path, workdir=str(workdir)))
        log_path = run_dir / "app.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        # Its workers too, when it starts some: every process of the app counts (app_cpu, grader.plugin).
        self._apps[socket_path] = (TaskClock(process.pid, descendants=True), time.monotonic())
        try:
            try:
                wait_until_ready(
                    socket_path,
                    app.ready_path,
                    app.startup_timeout,
                    process,
                    usage=lambda: self.app_usage(socket_path),
                )
            except AppStartError as exc:
                tail = log_path.read_text(errors="replace")[-OUTPUT_TAIL:]
                raise AppStartError(f"{exc}\n{tail}", usage=exc.usage, starved=exc.starved) from exc
            yield socket_path
        finally:
            self._apps.pop(socket_path, None)
            stop_process(process)
            shutil.rmtree(run_dir, ignore_errors=True)

    def run_visible_tests(self, workdir: Path) -> VisibleRun:
        """Run the project's own tests (the manifest's command: pytest, node --test, go test -json) in
        workdir. go test's report is its standard output (grader.gotest)."""
        with tempfile.TemporaryDirectory(prefix="visible-") as tmp:
            junit = Path(tmp) / "visible.xml"
            command = self.manifest.visible_test_command(self.python, junit=str(junit))
            started = time.monotonic()
            proc = subprocess.run(
                command,
                cwd=workdir,
                env=self._env(workdir),
                capture_output=True,
                # A safety net only: a busy host stretches the wall clock (grader.clock).
                timeout=self.manifest.visible_timeout * WALL_FACTOR,
                check=False,
            )
            duration = time.monotonic() - started
            if self.manifest.runtime_kind == "go":
                return VisibleRun.from_go_test(
                    self.manifest, proc.stdout, returncode=proc.returncode, duration=duration, errors=_text(proc.stderr)
                )
            return VisibleRun.from_junit(
                self.manifest,
                junit,
                returncode=proc.returncode,
                duration=duration,
                output=_text(proc.stdout) + _text(proc.stderr),
            )


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


BUILD_OUTPUT_LINES = 20


# go -mod=vendor's words for an import that is neither in the standard library nor vendored.
_NOT_VENDORED = re.compile(r'cannot find package "[^"]*" in:\s+\S*/vendor/(\S+)')


def build_failure(what: str, output: str) -> str:
    """A BuildError's message: how the build ended, its output's last lines, and what to do about an
    import that nothing provides (a build downloads nothing)."""
    tail = output.strip().splitlines()[-BUILD_OUTPUT_LINES:]
    message = f"the build {what}" + (":\n" + "\n".join(tail) if tail else "; it printed nothing")
    missing = sorted(set(_NOT_VENDORED.findall(output)))
    if missing:
        message += (
            f"\n{', '.join(missing)}: not in the standard library nor in the module's vendor folder, and a "
            "build downloads nothing; vendor it (go mod vendor, then commit vendor/) or do without it"
        )
    return message
