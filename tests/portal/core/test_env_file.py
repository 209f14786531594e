"""The .env file: read by manage.py, `python -m portal.serve` and `celery -A portal` alike, under the
real environment, which wins; strict, so that docker compose, systemd and the portal read it alike;
a bad line stops each of them with one line naming the file and the line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import env as portal_env
from portal.env import ConfigError, load_env_file, read_env_file

ROOT = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))
SOURCE = Path("/etc/portal.env")
PRINT_SETTINGS = "from django.conf import settings; print(settings.TIME_ZONE, repr(settings.EMAIL_HOST))"


def _env_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "portal.env"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _run(argv: list[str], tmp_path: Path, env_file: Path, **environment: str) -> subprocess.CompletedProcess:
    """``argv`` in the checkout with PATH, a var/ of its own and PORTAL_ENV_FILE, plus ``environment``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_ENV_FILE": str(env_file),
        **environment,
    }
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


# --- Reading the file -----------------------------------------------------------------------


def test_it_reads_assignments_and_skips_comments_and_blank_lines():
    text = (
        "# The portal's configuration\n"
        "\n"
        "DEBUG=false\n"
        "  export TIME_ZONE=Europe/Paris\n"
        "LOG_LEVEL = WARNING\n"
        "DEFAULT_FROM_EMAIL=Assessment Portal <portal@example.com>\n"
        "PORTAL_DATA_DIR=\n"
        "   # indented comment\n"
    )
    assert read_env_file(text, source=SOURCE) == {
        "DEBUG": "false",
        "TIME_ZONE": "Europe/Paris",
        "LOG_LEVEL": "WARNING",
        "DEFAULT_FROM_EMAIL": "Assessment Portal <portal@example.com>",
        "PORTAL_DATA_DIR": "",
    }


def test_single_quotes_keep_everything_inside_as_written():
    variables = read_env_file("EMAIL_HOST_PASSWORD='pa$$ #w\"o\\rd'  \n", source=SOURCE)
    assert variables == {"EMAIL_HOST_PASSWORD": 'pa$$ #w"o\\rd'}


def test_double_quotes_unescape_a_quote_and_a_backslash_only():
    variables = read_env_file('DEFAULT_FROM_EMAIL="The \\"Portal\\" \\\\ #1 <portal@example.com>"\n', source=SOURCE)
    assert variables == {"DEFAULT_FROM_EMAIL": 'The "Portal" \\ #1 <portal@example.com>'}


def test_the_last_assignment_of_a_name_wins():
    assert read_env_file("LOG_LEVEL=DEBUG\nLOG_LEVEL=ERROR\n", source=SOURCE) == {"LOG_LEVEL": "ERROR"}


@pytest.mark.parametrize(
    ("line", "message", "secret"),
    [
        ('SECRET_KEY="s3cret never closed', 'SECRET_KEY: the quote " is not closed on this line', "s3cret"),
        ("SECRET_KEY='s3cret never closed", "SECRET_KEY: the quote ' is not closed on this line", "s3cret"),
        ("DATABASE_URL=postgres://portal:s3$cret@db/portal", "DATABASE_URL: docker compose would read $", "s3"),
        ('DATABASE_URL="postgres://portal:s3$cret@db/portal"', "DATABASE_URL: docker compose would read $", "s3"),
        ("EMAIL_HOST=s3cret.example.com # our relay", "EMAIL_HOST: docker compose would drop ' #...'", "s3cret"),
        ("EMAIL_HOST_PASSWORD=s3cret's", "EMAIL_HOST_PASSWORD: a quote or backslash inside the value", "s3cret"),
        ('EMAIL_HOST_PASSWORD="s3cret\\n"', "EMAIL_HOST_PASSWORD: in double quotes a backslash escapes only", "s3cret"),
        ('SECRET_KEY="s3cret" # the key', "SECRET_KEY: text after the closing quote", "s3cret"),
        ("s3cret words and no equals sign", "expected NAME=value", "s3cret"),
        ("1SECRET=s3cret", "expected NAME=value", "s3cret"),
    ],
)
def test_a_line_compose_or_systemd_would_read_otherwise_is_refused_naming_the_file_and_line(line, message, secret):
    with pytest.raises(ConfigError) as refused:
        read_env_file(f"DEBUG=false\n{line}\n", source=SOURCE)
    assert str(refused.value).startswith(f"/etc/portal.env, line 2: {message}")
    assert secret not in str(refused.value)  # a line may hold a password: it is never repeated


# --- Adding it to the environment -----------------------------------------------------------


def test_variables_already_set_win_even_when_set_and_empty(tmp_path):
    path = _env_file(tmp_path, "TIME_ZONE=Europe/Paris", "PORTAL_DATA_DIR=/srv/data", "LOG_LEVEL=DEBUG")
    environ = {"PORTAL_ENV_FILE": str(path), "TIME_ZONE": "Asia/Tokyo", "PORTAL_DATA_DIR": ""}
    assert load_env_file(environ) == path
    assert environ == {
        "PORTAL_ENV_FILE": str(path),
        "TIME_ZONE": "Asia/Tokyo",
        "PORTAL_DATA_DIR": "",
        "LOG_LEVEL": "DEBUG",
    }


def test_without_a_env_file_in_the_project_root_nothing_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(portal_env, "ENV_FILE", tmp_path / ".env")
    environ = {"TIME_ZONE": "Asia/Tokyo"}
    assert load_env_file(environ) is None
    assert environ == {"TIME_ZONE": "Asia/Tokyo"}


def test_portal_env_file_set_and_empty_reads_no_file():
    environ = {"PORTAL_ENV_FILE": ""}
    assert load_env_file(environ) is None
    assert environ == {"PORTAL_ENV_FILE": ""}


@pytest.mark.parametrize(
    ("named", "message"),
    [
        ("/nonexistent/portal.env", "PORTAL_ENV_FILE='/nonexistent/portal.env' does not exist."),
        ("portal.env", "PORTAL_ENV_FILE='portal.env' must be an absolute path."),
    ],
)
def test_a_named_file_must_exist_at_an_absolute_path(named, message):
    with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.") + "$"):
        load_env_file({"PORTAL_ENV_FILE": named})


def test_the_file_cannot_name_another_file(tmp_path):
    path = _env_file(tmp_path, "PORTAL_ENV_FILE=/etc/other.env")
    with pytest.raises(ConfigError, match="sets PORTAL_ENV_FILE: set it in the environment, not in the file"):
        load_env_file({"PORTAL_ENV_FILE": str(path)})


# --- The commands that read it --------------------------------------------------------------


def test_manage_py_reads_the_env_file(tmp_path):
    path = _env_file(tmp_path, "TIME_ZONE=Europe/Paris", "EMAIL_HOST=smtp.example.com")
    result = _run([sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_SETTINGS], tmp_path, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Europe/Paris 'smtp.example.com'"


def test_the_real_environment_wins_over_the_env_file(tmp_path):
    path = _env_file(tmp_path, "TIME_ZONE=Europe/Paris", "EMAIL_HOST=smtp.example.com")
    argv = [sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_SETTINGS]
    result = _run(argv, tmp_path, path, TIME_ZONE="Asia/Tokyo", EMAIL_HOST="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Asia/Tokyo ''"


def test_a_malformed_line_stops_manage_py_with_one_line_naming_the_file_and_the_line(tmp_path):
    path = _env_file(tmp_path, "DEBUG=false", "# the key", 'SECRET_KEY="s3cret-and-unclosed')
    result = _run([sys.executable, "manage.py", "check"], tmp_path, path)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f'Configuration error: {path}, line 3: SECRET_KEY: the quote " is not closed on this line '
        "(a value spans one line)."
    ]
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("WEB_CONCURRENCY=lots", "WEB_CONCURRENCY='lots' is not an integer."),
        ("PORTAL_BIND=127.0.0.1:8000 # local", "{path}, line 1: PORTAL_BIND: docker compose would drop ' #...'"),
    ],
)
def test_portal_serve_stops_on_a_bad_env_file_with_one_line(tmp_path, line, message):
    path = _env_file(tmp_path, line)
    # --print-config: were the settings accepted, gunicorn would print its own and exit, not serve.
    result = _run([sys.executable, "-m", "portal.serve", "--print-config"], tmp_path, path)
    assert result.returncode != 0
    [printed] = result.stderr.splitlines()
    assert printed.startswith("Configuration error: " + message.format(path=path))
    assert result.stdout == ""  # gunicorn never started


def test_celery_reads_the_env_file(tmp_path):
    path = _env_file(tmp_path, "CELERY_BROKER_URL=redis://broker.invalid:6379/3")
    result = _run([CELERY, "-A", "portal", "report"], tmp_path, path)
    assert result.returncode == 0, result.stderr
    assert "CELERY_BROKER_URL: 'redis://broker.invalid:6379/3'" in result.stdout


def test_a_bad_value_in_the_env_file_stops_celery_with_one_line(tmp_path):
    path = _env_file(tmp_path, "DEBUG=maybe")
    result = _run([CELERY, "-A", "portal", "report"], tmp_path, path)
    assert result.returncode != 0
    assert result.stderr.splitlines() == ["Configuration error: DEBUG='maybe' is not a boolean: use true or false."]
