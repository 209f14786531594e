"""Where the portal listens and the address it gives out: PORTAL_BASE_URL follows PORTAL_BIND unless
set, read from .env by manage.py as by the server, and `make run` says both before it starts."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.env import url_of_bind

ROOT = Path(__file__).resolve().parents[3]
PRINT_ADDRESSES = "from django.conf import settings; print(settings.PORTAL_BIND, settings.PORTAL_BASE_URL)"


def _run(argv: list[str], tmp_path: Path, *lines: str) -> subprocess.CompletedProcess:
    """``argv`` in the checkout with a var/ of its own and a .env of ``lines`` (PORTAL_ENV_FILE)."""
    env_file = tmp_path / "portal.env"
    env_file.write_text("".join(f"{line}\n" for line in lines))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_ENV_FILE": str(env_file),
    }
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("0.0.0.0:80", "http://127.0.0.1:80"),
        ("[::]:8000", "http://[::1]:8000"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("portal.internal:8080", "http://portal.internal:8080"),
        ("unix:/run/portal/web.sock", "http://localhost"),
    ],
)
def test_the_address_of_a_bind_is_where_a_browser_on_this_host_reaches_it(bind, url):
    assert url_of_bind(bind) == url


def test_manage_py_reads_the_bind_from_the_env_file_and_the_base_url_follows_it(tmp_path):
    result = _run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_ADDRESSES], tmp_path, "PORTAL_BIND=0.0.0.0:8123"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.0.0.0:8123", "http://127.0.0.1:8123"]


def test_a_base_url_in_the_env_file_wins_over_the_bind(tmp_path):
    lines = ("PORTAL_BIND=127.0.0.1:8123", "PORTAL_BASE_URL=https://assessments.example.com/")
    result = _run([sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_ADDRESSES], tmp_path, *lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["127.0.0.1:8123", "https://assessments.example.com"]


def test_a_bad_bind_in_the_env_file_stops_manage_py_with_one_line(tmp_path):
    result = _run([sys.executable, "manage.py", "check"], tmp_path, "PORTAL_BIND=8123")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Configuration error: PORTAL_BIND='8123' is not an address to listen on: use host:port or unix:/path."
    )


def _announce_line() -> str:
    """The line of the Makefile's `run` target that says where the portal listens, as the shell runs it."""
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    [line] = [line.strip().lstrip("@") for line in recipe.splitlines() if "announce" in line]
    return line.replace("$(BIN)", str(Path(sys.executable).parent))


def test_make_run_says_the_address_it_really_serves_and_where_to_sign_in(tmp_path):
    result = _run(["/bin/sh", "-c", _announce_line()], tmp_path, "PORTAL_BIND=127.0.0.1:8123")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Starting the portal on http://127.0.0.1:8123 (web + worker); Ctrl-C stops both.",
        "Sign in at http://127.0.0.1:8123/accounts/login/",
    ]


def test_make_run_signs_in_at_the_base_url_behind_a_proxy(tmp_path):
    lines = ("PORTAL_BIND=unix:/run/portal/web.sock", "PORTAL_BASE_URL=https://assessments.example.com")
    result = _run(["/bin/sh", "-c", _announce_line()], tmp_path, *lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Starting the portal on unix:/run/portal/web.sock (web + worker); Ctrl-C stops both.",
        "Sign in at https://assessments.example.com/accounts/login/",
    ]
