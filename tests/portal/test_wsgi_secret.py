"""The WSGI application itself refuses the placeholder SECRET_KEY when DEBUG is off, so that
`gunicorn portal.wsgi` run directly (without `python -m portal.serve`) never serves with it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMPORT_WSGI = [sys.executable, "-c", "import portal.wsgi; print('loaded', callable(portal.wsgi.application))"]


def _import_wsgi(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess:
    """Import portal.wsgi in a fresh interpreter with production settings on SQLite; an override
    of None unsets the variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_BASE_URL": "https://assess.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.update(overrides)
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run(IMPORT_WSGI, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("secret_key", [None, "", "insecure-local-development-key-do-not-use-in-production"])
def test_it_refuses_the_placeholder_key_with_debug_off(tmp_path, secret_key):
    result = _import_wsgi(tmp_path, SECRET_KEY=secret_key)
    assert result.returncode != 0
    assert "loaded" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: SECRET_KEY is the built-in placeholder while DEBUG is off." in last
    assert "Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value" in last


def test_it_loads_with_a_real_key(tmp_path):
    result = _import_wsgi(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded True"


def test_it_loads_with_the_placeholder_for_a_local_run(tmp_path):
    result = _import_wsgi(tmp_path, DEBUG="true", SECRET_KEY=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded True"
