"""Running the candidate's code as plain local subprocesses, without a sandbox.

For authoring and for validating the assessment itself only: candidate code
must be run in the portal's sandbox, which provides the same two operations
(start_app and run_visible_tests, see validate.Runner).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .manifest import Manifest
from .run import OUTPUT_TAIL, VisibleRun, trusted_env


class AppStartError(RuntimeError):
    """The app did not start serving its ready path in time."""


def wait_until_ready(
    socket_path: str, ready_path: str, timeout: float, process: subprocess.Popen | None = None
) -> float:
    """Poll GET ready_path on the socket until it answers 200; returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    transport = httpx.HTTPTransport(uds=socket_path, limits=httpx.Limits(max_keepalive_connections=0))
    # The Host any local client sends: nothing tells these requests from another client's.
    with httpx.Client(transport=transport, base_url="http://localhost:8000", timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise AppStartError(f"the app exited with code {process.returncode} before it was ready")
            if os.path.exists(socket_path):
                try:
                    if http.get(ready_path).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
    raise AppStartError(f"the app did not answer 200 on {ready_path} within {timeout:.0f} s")


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

    python: an interpreter that has the shipped project's requirements installed.
    """

    manifest: Manifest
    python: str = sys.executable

    @contextmanager
    def start_app(self, workdir: Path) -> Iterator[str]:
        """Serve the app of the tree in workdir on a fresh unix socket; yields the socket's path."""
        # Unix socket paths are limited to about 100 bytes: keep it short, in a folder of its own.
        run_dir = Path(tempfile.mkdtemp(prefix="app-"))
        socket_path = str(run_dir / "app.sock")
        app = self.manifest.app
        command = app.command(self.python, socket=socket_path, workdir=str(workdir))
        env = trusted_env(**app.environment(socket=socket_path, workdir=str(workdir)))
        log_path = run_dir / "app.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            try:
                wait_until_ready(socket_path, app.ready_path, app.startup_timeout, process)
            except AppStartError as exc:
                tail = log_path.read_text(errors="replace")[-OUTPUT_TAIL:]
                raise AppStartError(f"{exc}\n{tail}") from exc
            yield socket_path
        finally:
            stop_process(process)
            shutil.rmtree(run_dir, ignore_errors=True)

    def run_visible_tests(self, workdir: Path) -> VisibleRun:
        """Run the project's own tests with plain pytest in workdir, as a candidate would."""
        with tempfile.TemporaryDirectory(prefix="visible-") as tmp:
            junit = Path(tmp) / "visible.xml"
            command = self.manifest.visible_test_command(self.python, junit=str(junit))
            started = time.monotonic()
            proc = subprocess.run(
                command,
                cwd=workdir,
                env=trusted_env(),
                capture_output=True,
                text=True,
                timeout=self.manifest.visible_timeout,
                check=False,
            )
            return VisibleRun.from_junit(
                self.manifest,
                junit,
                returncode=proc.returncode,
                duration=time.monotonic() - started,
                output=proc.stdout + proc.stderr,
            )
