"""Start real Celery worker processes for tests, on the same broker and test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def database_url(settings_dict: dict) -> str:
    """The DATABASE_URL that points another process at the database this test uses."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(probe: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(interval)


def as_user(user: tuple[int, int] | None) -> dict:
    """Popen keywords that start a process as ``(uid, gid)`` with no supplementary groups; {} for the current user."""
    if user is None:
        return {}
    uid, gid = user
    return {"user": uid, "group": gid, "extra_groups": []}


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    node_prefix: str  # the Celery node name up to its "@host" part, as its heartbeat row is named

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_worker(
    *,
    db_url: str,
    log_dir: Path,
    include: str | None = None,
    queues: str = "default,scoring",
    env: dict[str, str] | None = None,
    user: tuple[int, int] | None = None,
    concurrency: int = 1,
    beat: bool = False,
) -> Iterator[WorkerProcess]:
    """A `celery worker` on the test broker; ``env`` adds to (or, as "", empties) variables, ``user`` is (uid, gid);
    ``beat`` embeds the scheduler (as `make run` does), with its state in ``log_dir``."""
    env = {**os.environ, "DATABASE_URL": db_url, **(env or {})}
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    node_prefix = f"test-{uuid.uuid4().hex[:6]}@"
    argv = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "--queues", queues, "--concurrency", str(concurrency), "--pool", "prefork",
        "--hostname", f"{node_prefix}%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--purge", "--loglevel", "INFO",
    ]  # fmt: skip
    if include:
        argv += ["--include", include]
    if beat:
        argv += ["--beat", "--schedule", str(log_dir / f"beat-{uuid.uuid4().hex[:8]}")]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **as_user(user)
        )
    worker = WorkerProcess(process=process, log_path=log_path, node_prefix=node_prefix)
    try:
        wait_for(lambda: process.poll() is not None or " ready." in worker.log(), timeout=60, what="the worker")
        if process.poll() is not None:
            raise RuntimeError(f"The worker exited with {process.returncode}:\n{worker.log()}")
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
