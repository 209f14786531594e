"""What `make run` starts: the Procfile under honcho serves pages and consumes tasks on the
embedded defaults, and Ctrl-C stops everything."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import descendants, kill_session, procfile_command, running, session_members
from tests.support.workers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


def _heartbeats(db_path: Path) -> list[tuple]:
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            return db.execute("SELECT hostname, pid FROM core_workerheartbeat").fetchall()
    except sqlite3.Error:
        return []


@pytest.fixture
def zero_config_env(tmp_path) -> dict[str, str]:
    """The environment of someone who configured nothing, with state in a temporary var/."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_DATA_DIR", "PORTAL_CACHE_DIR", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_BIND": f"127.0.0.1:{free_port()}"})
    return env


def test_the_procfile_serves_the_login_page_and_a_worker_consumes(zero_config_env, tmp_path):
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=zero_config_env, check=True)
    base_url = f"http://{zero_config_env['PORTAL_BIND']}"
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile"],
        cwd=ROOT,
        env=zero_config_env,
        stdout=(tmp_path / "honcho.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _get(f"{base_url}/accounts/login/") == 200, timeout=60, what="the login page")
        wait_for(lambda: "ready." in (tmp_path / "honcho.log").read_text(), timeout=60, what="the worker")
        # The worker records its own heartbeat once it runs (nothing needs to be sent to it).
        [(_hostname, pid)] = wait_for(
            lambda: _heartbeats(tmp_path / "portal.sqlite3"), timeout=30, what="the worker's heartbeat"
        )
        assert pid != honcho.pid
        assert (tmp_path / "celery-broker.sqlite3").exists()
    finally:
        # What Ctrl-C in the terminal does: SIGINT to the whole foreground process group.
        os.killpg(honcho.pid, signal.SIGINT)
        # honcho starts each Procfile line in a session of its own.
        sessions = [honcho.pid, *map(int, re.findall(r"started \(pid=(\d+)\)", (tmp_path / "honcho.log").read_text()))]
        try:
            honcho.wait(timeout=45)
        except subprocess.TimeoutExpired:
            for sid in sessions:
                kill_session(sid)
            raise
    try:
        wait_for(lambda: not any(session_members(sid) for sid in sessions), timeout=10, what="the last processes")
    except TimeoutError:
        leftovers = {sid: session_members(sid) for sid in sessions}
        for sid in sessions:
            kill_session(sid)
        pytest.fail(f"processes outlived Ctrl-C: {leftovers}")
    assert _get(f"{base_url}/accounts/login/") == 0


@pytest.mark.parametrize("to", ["process group", "process"])
def test_an_idle_procfile_worker_stops_within_seconds_of_sigterm(zero_config_env, tmp_path, to):
    """honcho stops a Procfile process with SIGTERM to its process group; `kill PID`, systemd or
    Docker send it to the process. Either way the worker, its embedded scheduler and its pool
    processes must be gone within seconds, not hang after "Warm shutdown"."""
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        # As honcho runs a Procfile line: through /bin/sh, in a session (and process group) of its own.
        worker = subprocess.Popen(
            ["/bin/sh", "-c", procfile_command("worker")],
            cwd=ROOT,
            env=zero_config_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: worker.poll() is not None or " ready." in log_path.read_text(errors="replace"),
            timeout=60,
            what="the worker",
        )
        assert worker.poll() is None, log_path.read_text(errors="replace")
        # The scheduler and both pool processes, then a moment of idleness.
        started = {worker.pid, *wait_for(lambda: _all_started(worker.pid), timeout=30, what="the worker's processes")}
        time.sleep(1)

        if to == "process group":
            os.killpg(worker.pid, signal.SIGTERM)
        else:
            os.kill(worker.pid, signal.SIGTERM)
        # What it started, and anything started since (its session): all gone within 15 s.
        wait_for(
            lambda: not session_members(worker.pid) and not any(running(pid) for pid in started),
            timeout=15,
            what="the worker and its processes to stop",
        )
        worker.wait(timeout=5)
    finally:
        kill_session(worker.pid)
        worker.wait(timeout=10)
    log_text = log_path.read_text(errors="replace")
    assert "Warm shutdown" in log_text
    # Pool processes are stopped by the worker, not killed by the signal meant for it.
    assert "exited with 'signal" not in log_text, log_text
    # The embedded scheduler keeps its state under PORTAL_VAR_DIR.
    assert list(tmp_path.glob("celerybeat-schedule*"))


def _all_started(worker_pid: int) -> set[int] | None:
    """The worker's embedded scheduler and its two pool processes, once all three exist."""
    found = descendants(worker_pid)
    return found if len(found) >= 3 else None
