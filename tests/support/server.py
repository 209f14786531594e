"""Run the portal under gunicorn, as in production, for tests that need a real HTTP server
(git's chunked and gzip request bodies need one; Django's test server handles neither)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop_group
from tests.support.workers import ROOT, as_user, free_port, wait_for


@dataclass
class PortalServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def answers(url: str) -> bool:
    """Whether a GET of ``url`` is answered 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def healthy(url: str) -> bool:
    """Whether the portal at ``url`` answers /healthz with 200 (as compose's health check asks it)."""
    return answers(f"{url}/healthz")


@contextmanager
def running_portal(
    *, db_url: str, log_dir: Path, env: dict[str, str] | None = None, user: tuple[int, int] | None = None
) -> Iterator[PortalServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_BASE_URL": url,
        **(env or {}),
    }
    log_path = log_dir / f"gunicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--config", "portal/gunicorn.conf.py"],
            cwd=ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user(user),
        )
    server = PortalServer(url=url, process=process, log_path=log_path)
    try:
        wait_for(lambda: process.poll() is not None or healthy(url), timeout=60, what="gunicorn")
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log()}")
        yield server
    finally:
        stop_group(process)
