"""gunicorn reads its settings through portal/env.py: a bad value stops start-up with one line
naming the variable, both for the image's and compose's command (`python -m portal.serve`) and
for the Procfile's web line (`make run`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import procfile_command

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "portal.serve"]
VARIABLES = ("PORTAL_BIND", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT")


def _start(argv: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    env.update(PORTAL_VAR_DIR=str(tmp_path), **variables)
    # Bounded: with a good configuration this would be a running server, which is a failure here.
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _assert_one_line_naming(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"Configuration error: {message}"], result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # gunicorn itself reads WEB_CONCURRENCY with int() as it is imported: portal.serve checks first.
        ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY='abc' is not an integer."),
        ("WEB_THREADS", "abc", "WEB_THREADS='abc' is not an integer."),
        ("WEB_TIMEOUT", "0", "WEB_TIMEOUT=0 is below the minimum of 1."),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY=0 is below the minimum of 1."),
        (
            "PORTAL_BIND",
            "localhost:http",
            "PORTAL_BIND='localhost:http' is not an address to listen on: use host:port or unix:/path.",
        ),
    ],
)
def test_the_web_server_stops_on_a_bad_value_with_one_line(tmp_path, variable, value, message):
    _assert_one_line_naming(_start(SERVE, tmp_path, **{variable: value}), message)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY='abc' is not an integer."),
        ("WEB_THREADS", "many", "WEB_THREADS='many' is not an integer."),
        ("PORTAL_BIND", "8000", "PORTAL_BIND='8000' is not an address to listen on: use host:port or unix:/path."),
    ],
)
def test_the_procfile_web_command_stops_on_a_bad_value_with_one_line(tmp_path, variable, value, message):
    # As honcho runs it: the Procfile line through /bin/sh.
    result = _start(["/bin/sh", "-c", procfile_command("web")], tmp_path, **{variable: value})
    _assert_one_line_naming(result, message)


def test_good_values_reach_gunicorn(tmp_path):
    result = _start(
        [*SERVE, "--print-config"],
        tmp_path,
        PORTAL_BIND="127.0.0.1:8123",
        WEB_CONCURRENCY="3",
        WEB_THREADS="5",
        WEB_TIMEOUT="42",
    )
    assert result.returncode == 0, result.stderr
    # --print-config prints "name    = value" lines.
    settings = {
        name.strip(): value for name, _, value in (line.partition(" = ") for line in result.stdout.splitlines())
    }
    assert settings["bind"] == "['127.0.0.1:8123']"
    assert (settings["workers"], settings["threads"], settings["timeout"]) == ("3", "5", "42")
