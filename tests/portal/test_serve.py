"""`python -m portal.serve` with production settings: it refuses the placeholder SECRET_KEY that
portal.E001 refuses, warns when production would be served over plain http, and otherwise serves;
the default ALLOWED_HOSTS let the health check and the scoring workers' internal URL in."""

import os
import runpy
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import stop_group
from tests.support.workers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
# --print-config: were the settings accepted, gunicorn would print its own and exit, not serve.
CHECK_ONLY = [sys.executable, "-m", "portal.serve", "--print-config"]


def _production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """The documented production .env on SQLite; an override of None unsets the variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_BASE_URL": "https://assess.example.com",
        "TRUST_X_FORWARDED_PROTO": "true",
        "PORTAL_TRUSTED_PROXIES": "1",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WEB_CONCURRENCY": "1",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(CHECK_ONLY, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("secret_key", [None, "", "   "])
def test_it_refuses_the_placeholder_secret_key_with_debug_off(tmp_path, secret_key):
    result = _run(_production_env(tmp_path, SECRET_KEY=secret_key))
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Configuration error: SECRET_KEY is the built-in placeholder while DEBUG is off.")
    assert "python -c 'import secrets; print(secrets.token_urlsafe(50))'" in line
    assert result.stdout == ""  # gunicorn never started


def test_the_placeholder_is_fine_for_a_local_run(tmp_path):
    result = _run(_production_env(tmp_path, DEBUG="true", SECRET_KEY=None))
    assert result.returncode == 0, result.stderr
    assert "Configuration error" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean: use true or false."),
        ("PORTAL_TRUSTED_PROXIES", "-1", "PORTAL_TRUSTED_PROXIES=-1 is below the minimum of 0."),
    ],
)
def test_a_bad_setting_stops_it_with_one_line(tmp_path, variable, value, message):
    result = _run(_production_env(tmp_path, **{variable: value}))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"Configuration error: {message}"]


def test_it_warns_when_production_is_served_over_plain_http(tmp_path):
    result = _run(_production_env(tmp_path, PORTAL_BASE_URL="http://assess.example.com"))
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert "PORTAL_BASE_URL is http://assess.example.com" in warning
    assert "cookies are not marked Secure and passwords cross the network in clear" in warning


def test_it_serves_the_health_check_on_loopback_with_a_production_configuration(tmp_path):
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = _production_env(tmp_path, PORTAL_BIND=f"127.0.0.1:{port}")
    (tmp_path / "static").mkdir()  # collectstatic's output, as in the image
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Plain http to 127.0.0.1, as the compose health check asks: neither 400 nor a redirect.
        wait_for(lambda: process.poll() is not None or _healthz(port) == 200, timeout=60, what="portal.serve")
        assert process.poll() is None, log_path.read_text()
    finally:
        stop_group(process)
    assert "Warning: PORTAL_BASE_URL" not in log_path.read_text()


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status
    except OSError:
        return None


def _allowed_hosts(monkeypatch, tmp_path: Path, **variables: str) -> list[str]:
    """ALLOWED_HOSTS as portal/settings.py computes it from these variables."""
    for name in ("DEBUG", "ALLOWED_HOSTS", "PORTAL_INTERNAL_URL", "PORTAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "portal" / "settings.py"))["ALLOWED_HOSTS"]


def test_production_allows_the_public_host_and_loopback(monkeypatch, tmp_path):
    hosts = _allowed_hosts(monkeypatch, tmp_path, DEBUG="false", PORTAL_BASE_URL="https://assess.example.com")
    assert hosts == ["127.0.0.1", "[::1]", "assess.example.com", "localhost"]


def test_the_internal_url_host_is_allowed_for_scoring_workers(monkeypatch, tmp_path):
    hosts = _allowed_hosts(
        monkeypatch,
        tmp_path,
        DEBUG="false",
        PORTAL_BASE_URL="https://assess.example.com",
        PORTAL_INTERNAL_URL="http://web:8000",
    )
    assert "web" in hosts
    ipv6 = _allowed_hosts(monkeypatch, tmp_path, DEBUG="false", PORTAL_INTERNAL_URL="http://[fd00::5]:8000")
    assert "[fd00::5]" in ipv6


def test_a_local_run_also_allows_the_test_client(monkeypatch, tmp_path):
    assert "testserver" in _allowed_hosts(monkeypatch, tmp_path, DEBUG="true")
    assert "testserver" not in _allowed_hosts(monkeypatch, tmp_path, DEBUG="false")


def test_an_explicit_allowed_hosts_replaces_the_defaults(monkeypatch, tmp_path):
    hosts = _allowed_hosts(
        monkeypatch, tmp_path, DEBUG="false", PORTAL_INTERNAL_URL="http://web:8000", ALLOWED_HOSTS="assess.example.com"
    )
    assert hosts == ["assess.example.com"]
