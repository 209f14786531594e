"""A live portal for benchmarks of whole processes (not a benchmark: `make bench` skips names starting with _).

`live_portal()` starts a zero-configuration portal (gunicorn + one Celery worker of concurrency 2
on the embedded SQLite broker; with `beat=True` the worker also runs the scheduler, as the Procfile's
does) in a temporary directory, as `make run` would, with the built-in assessment installed;
`LivePortal.invite()` invites a candidate and returns their git URL. Runs are read straight from
the SQLite database. Everything listens on 127.0.0.1 and stops with the context.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import free_port, production_settings, wait_http

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
FINISHED = ("passed", "failed", "error", "superseded")
# The worker's processes, as the Procfile (`make run`) starts it.
WORKER_CONCURRENCY = 2


def git(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class LivePortal:
    tmp: Path
    port: int
    env: dict[str, str]

    @property
    def db(self) -> Path:
        return self.tmp / "var" / "portal.sqlite3"

    def git_env(self, name: str) -> dict[str, str]:
        home = self.tmp / f"home-{name}"
        home.mkdir(exist_ok=True)
        return {
            "PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": f"{name}@example.com",
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": f"{name}@example.com",
        }  # fmt: skip

    def invite(self, name: str) -> tuple[str, str]:
        """Invite ``name``; return their clone URL (credentials in it) and the invite's public id."""
        created = json.loads(
            subprocess.run(
                [PYTHON, "manage.py", "invite", "--assessment", "library-lending-api", "--email",
                 f"{name}@example.com", "--name", name, "--json"],
                cwd=ROOT, env=self.env, check=True, capture_output=True, text=True,
            ).stdout
        )  # fmt: skip
        url = (
            f"http://{created['git_username']}:{created['git_password']}@127.0.0.1:{self.port}"
            f"/git/{created['invite_id']}.git"
        )
        return url, created["invite_id"]

    def repository(self, public_id: str) -> Path:
        return self.tmp / "var" / "data" / "repos" / f"{public_id}.git"

    def run_states(self, shas: list[str]) -> dict[str, str]:
        """The status of each run of ``shas`` that exists, in one query: the benchmark's own polling
        stays a small part of what the machine does while it measures the portal."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute(
                'SELECT "commit", status FROM scoring_run WHERE "commit" IN (SELECT value FROM json_each(?))',
                (json.dumps(shas),),
            )
            return dict(rows.fetchall())

    def wait_finished(self, shas: list[str], timeout: float = 600) -> dict[str, float]:
        """When (time.monotonic()) each run of ``shas`` was seen finished."""
        done: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(shas):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(shas) - len(done)} runs not finished")
            waiting = [sha for sha in shas if sha not in done]
            for sha, state in self.run_states(waiting).items():
                if state in FINISHED:
                    done[sha] = time.monotonic()
            time.sleep(0.05)
        return done


@contextmanager
def live_portal(prefix: str, env: dict[str, str] | None = None, *, beat: bool = False) -> Iterator[LivePortal]:
    """The portal on the embedded defaults, with ``env`` added to its environment; with ``beat``,
    the worker also runs the periodic tasks (the sweep that sends stuck runs again among them)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        tmp = Path(scratch)
        port = free_port()
        portal_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        portal_env.update(
            DJANGO_SETTINGS_MODULE="portal.settings",
            PORTAL_VAR_DIR=str(tmp / "var"),
            PORTAL_DATA_DIR=str(tmp / "var" / "data"),
            PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
            PORTAL_BIND=f"127.0.0.1:{port}",
            LOG_LEVEL="WARNING",
            **production_settings(),
            **(env or {}),
        )
        # Share the runtimes `make run` built for this checkout (PORTAL_CACHE_DIR), if any, rather
        # than building one in the temporary directory.
        runtimes = ROOT / "var" / "cache" / "runtimes"
        if runtimes.exists():
            (tmp / "var" / "cache").mkdir(parents=True)
            (tmp / "var" / "cache" / "runtimes").symlink_to(runtimes)
        manage = [PYTHON, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=portal_env, check=True)
        subprocess.run(
            [*manage, "build_runtime", "assessment_app"], cwd=ROOT, env=portal_env, check=True, capture_output=True
        )
        subprocess.run(
            [*manage, "shell", "-c", "from pathlib import Path; from portal.assessments.services import "
             "assessment_version_install as i; i(package_dir=Path('assessment_app'))"],
            cwd=ROOT, env=portal_env, check=True, capture_output=True,
        )  # fmt: skip
        processes = [
            subprocess.Popen(
                [str(BIN / "gunicorn"), "portal.wsgi", "--config", "portal/gunicorn.conf.py", "--access-logfile",
                 "/dev/null"],
                cwd=ROOT, env=portal_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [str(BIN / "celery"), "-A", "portal", "worker", *(["--beat"] if beat else []), "--queues",
                 "default,scoring", "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip", "--without-mingle",
                 "--loglevel", "WARNING"],
                cwd=ROOT, env=portal_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
        ]  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            yield LivePortal(tmp=tmp, port=port, env=portal_env)
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
