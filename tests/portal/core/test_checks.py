"""System checks: a production environment passes `check --deploy`; the placeholder key does not."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "k7Qw-production-secret-9fJ2xLm4Vt8Zp1Rb6Nc3Hd5Yg0Ws7Ue2Ia9Ko4Lj6Mh8Nf1",
        "PORTAL_BASE_URL": "https://assess.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.update(overrides)
    return env


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_reports_nothing_with_a_production_environment(tmp_path):
    result = _check(_production_env(tmp_path), "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_placeholder_secret_key_is_refused_with_debug_off(tmp_path):
    env = _production_env(tmp_path)
    del env["SECRET_KEY"]
    result = _check(env)
    assert result.returncode != 0
    assert "portal.E001" in result.stderr
    assert "SECRET_KEY is the built-in placeholder while DEBUG is off" in result.stderr


def test_the_placeholder_secret_key_is_fine_for_a_local_run(tmp_path):
    env = _production_env(tmp_path, DEBUG="true")
    del env["SECRET_KEY"]
    result = _check(env)
    assert result.returncode == 0, result.stderr


def test_plain_http_in_production_is_reported_by_check_deploy(tmp_path):
    result = _check(_production_env(tmp_path, PORTAL_BASE_URL="http://assess.example.com"), "--deploy")
    assert "security.W008" in result.stdout + result.stderr  # no HTTPS redirect
    assert "security.W012" in result.stdout + result.stderr  # session cookie not secure


def test_a_data_directory_that_cannot_be_created_is_an_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = _check(_production_env(tmp_path, PORTAL_DATA_DIR=str(tmp_path / "a-file" / "data")))
    assert result.returncode != 0
    assert "portal.E002" in result.stderr
