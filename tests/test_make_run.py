"""What `make run` starts: the Procfile under honcho serves pages and consumes tasks on the
embedded defaults, and Ctrl-C stops everything."""

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

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
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_DATA_DIR", "DJANGO_SETTINGS_MODULE"}
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
        subprocess.run(
            [str(BIN / "celery"), "-A", "portal", "call", "core.heartbeat"],
            cwd=ROOT,
            env=zero_config_env,
            check=True,
            capture_output=True,
        )
        [(_hostname, pid)] = wait_for(
            lambda: _heartbeats(tmp_path / "portal.sqlite3"), timeout=30, what="the worker's heartbeat"
        )
        assert pid != honcho.pid
        assert (tmp_path / "celery-broker.sqlite3").exists()
    finally:
        # What Ctrl-C in the terminal does: SIGINT to the whole foreground process group.
        os.killpg(honcho.pid, signal.SIGINT)
        try:
            honcho.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise
    leftovers = subprocess.run(["pgrep", "-g", str(honcho.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes outlived Ctrl-C: {leftovers}"
    assert _get(f"{base_url}/accounts/login/") == 0
