"""Each settings helper accepts good values and rejects bad ones, naming the variable."""

import subprocess
import sys
from pathlib import Path

import pytest

from portal.env import (
    ConfigError,
    envaddress,
    envbool,
    envbroker,
    envchoice,
    envdatabase,
    envint,
    envlist,
    envpath,
    envsecret,
    envstr,
    envtimezone,
    envurl,
)
from tests.support.processes import procfile_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("True", True), ("1", True), ("off", False), ("0", False)]
)
def test_envbool_reads_true_and_false(raw, expected):
    assert envbool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_envbool_uses_the_default_when_unset_or_blank():
    assert envbool("DEBUG", True, environ={}) is True
    assert envbool("DEBUG", False, environ={"DEBUG": "  "}) is False


def test_envbool_rejects_maybe_naming_the_variable():
    with pytest.raises(ConfigError, match=r"DEBUG='maybe' is not a boolean"):
        envbool("DEBUG", True, environ={"DEBUG": "maybe"})


def test_envint_parses_and_enforces_bounds():
    assert envint("EMAIL_PORT", 25, environ={"EMAIL_PORT": "587"}) == 587
    with pytest.raises(ConfigError, match="EMAIL_PORT='abc' is not an integer"):
        envint("EMAIL_PORT", 25, environ={"EMAIL_PORT": "abc"})
    with pytest.raises(ConfigError, match="EMAIL_PORT=70000 is above the maximum of 65535"):
        envint("EMAIL_PORT", 25, maximum=65535, environ={"EMAIL_PORT": "70000"})
    with pytest.raises(ConfigError, match="WEB_THREADS=0 is below the minimum of 1"):
        envint("WEB_THREADS", 4, minimum=1, environ={"WEB_THREADS": "0"})


def test_envstr_and_envlist_trim_and_drop_blanks():
    assert envstr("TIME_ZONE", "UTC", environ={"TIME_ZONE": " Europe/Paris "}) == "Europe/Paris"
    assert envlist("ALLOWED_HOSTS", ["x"], environ={"ALLOWED_HOSTS": "a.example, ,b.example,"}) == [
        "a.example",
        "b.example",
    ]
    assert envlist("ALLOWED_HOSTS", ["x"], environ={}) == ["x"]


def test_envchoice_rejects_values_outside_the_choices():
    assert envchoice("LOG_LEVEL", "INFO", ("INFO", "DEBUG"), environ={"LOG_LEVEL": "DEBUG"}) == "DEBUG"
    with pytest.raises(ConfigError, match="LOG_LEVEL='loud' is not one of: INFO, DEBUG"):
        envchoice("LOG_LEVEL", "INFO", ("INFO", "DEBUG"), environ={"LOG_LEVEL": "loud"})


def test_envsecret_reads_the_value_or_a_file(tmp_path):
    secret_file = tmp_path / "key"
    secret_file.write_text("from-a-file\n")
    assert envsecret("SECRET_KEY", "dflt", environ={"SECRET_KEY": "direct"}) == "direct"
    assert envsecret("SECRET_KEY", "dflt", environ={"SECRET_KEY_FILE": str(secret_file)}) == "from-a-file"
    assert envsecret("SECRET_KEY", "dflt", environ={}) == "dflt"


def test_envsecret_rejects_a_missing_or_empty_file_and_both_sources(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE='/nonexistent/key' cannot be read"):
        envsecret("SECRET_KEY", "d", environ={"SECRET_KEY_FILE": "/nonexistent/key"})
    with pytest.raises(ConfigError, match=r"SECRET_KEY_FILE=.* is empty"):
        envsecret("SECRET_KEY", "d", environ={"SECRET_KEY_FILE": str(empty)})
    with pytest.raises(ConfigError, match="Set SECRET_KEY or SECRET_KEY_FILE, not both"):
        envsecret("SECRET_KEY", "d", environ={"SECRET_KEY": "a", "SECRET_KEY_FILE": str(empty)})


def test_envurl_accepts_http_and_https_and_drops_the_trailing_slash():
    assert envurl("PORTAL_BASE_URL", "x", environ={"PORTAL_BASE_URL": "https://jobs.example.com/"}) == (
        "https://jobs.example.com"
    )
    for bad in ("jobs.example.com", "ftp://jobs.example.com", "https://"):
        with pytest.raises(ConfigError, match=r"PORTAL_BASE_URL=.* is not a URL starting with http://, https://"):
            envurl("PORTAL_BASE_URL", "x", environ={"PORTAL_BASE_URL": bad})


def test_envpath_requires_an_absolute_path():
    assert envpath("PORTAL_DATA_DIR", Path("/d"), environ={"PORTAL_DATA_DIR": "/srv/portal"}) == Path("/srv/portal")
    with pytest.raises(ConfigError, match="PORTAL_DATA_DIR='data' must be an absolute path"):
        envpath("PORTAL_DATA_DIR", Path("/d"), environ={"PORTAL_DATA_DIR": "data"})


def test_envdatabase_reads_a_postgres_url():
    config = envdatabase("DATABASE_URL", {}, environ={"DATABASE_URL": "postgres://portal:s3cret@db:6543/portal"})
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == ("portal", "s3cret", "db", "6543")
    assert config["NAME"] == "portal"


def test_envdatabase_reads_an_absolute_sqlite_url():
    config = envdatabase("DATABASE_URL", {}, environ={"DATABASE_URL": "sqlite:////srv/portal/db.sqlite3"})
    assert config == {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/portal/db.sqlite3"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgres:// or sqlite:///"),
        ("not a url", "must start with postgres:// or sqlite:///"),
        ("postgres://u@h:notaport/db", "DATABASE_URL is malformed"),
        ("postgres://u@h:5432/", "names no database"),
        ("postgres:///db", "names no host"),
        ("sqlite:///relative.db", "absolute SQLite path"),
    ],
)
def test_envdatabase_rejects_malformed_urls_naming_the_variable(url, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        envdatabase("DATABASE_URL", {}, environ={"DATABASE_URL": url})
    assert "DATABASE_URL" in str(excinfo.value)


def test_envbroker_accepts_redis_rabbitmq_and_the_embedded_transport():
    for url in ("redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//", "sqla+sqlite:////tmp/b.db"):
        assert envbroker("CELERY_BROKER_URL", "x", environ={"CELERY_BROKER_URL": url}) == url
    with pytest.raises(ConfigError, match="CELERY_BROKER_URL='kafka://k:9092' is not a supported broker URL"):
        envbroker("CELERY_BROKER_URL", "x", environ={"CELERY_BROKER_URL": "kafka://k:9092"})


def test_envaddress_reads_host_port_and_unix_sockets():
    for good in ("127.0.0.1:8000", "0.0.0.0:80", "[::1]:8000", "web.internal:8080", "unix:/run/portal.sock"):
        assert envaddress("PORTAL_BIND", "x", environ={"PORTAL_BIND": good}) == good
    assert envaddress("PORTAL_BIND", "127.0.0.1:8000", environ={}) == "127.0.0.1:8000"
    for bad in ("8000", "localhost", "localhost:http", ":8000", "host:70000", "host:0", "unix:relative.sock"):
        with pytest.raises(ConfigError, match=r"PORTAL_BIND=.* is not an address to listen on"):
            envaddress("PORTAL_BIND", "x", environ={"PORTAL_BIND": bad})


def test_envtimezone_accepts_iana_names_only():
    assert envtimezone("TIME_ZONE", "UTC", environ={"TIME_ZONE": "Europe/Paris"}) == "Europe/Paris"
    assert envtimezone("TIME_ZONE", "UTC", environ={}) == "UTC"
    for bad in ("Mars/Base", "Europe", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(ConfigError, match=r"TIME_ZONE=.* is not a time zone"):
            envtimezone("TIME_ZONE", "UTC", environ={"TIME_ZONE": bad})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "postgres://u@h:port/db"),
        ("CELERY_BROKER_URL", "nope://x"),
        ("TIME_ZONE", "Mars/Base"),
    ],
)
def test_a_bad_value_stops_start_up_with_the_variable_named(variable, value):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"Configuration error: {variable}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # The Procfile used to read this one itself, for the scheduler's file, before the settings did.
        ("PORTAL_VAR_DIR", "var", "PORTAL_VAR_DIR='var' must be an absolute path."),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean: use true or false."),
        ("TIME_ZONE", "Mars/Base", "TIME_ZONE='Mars/Base' is not a time zone: use a name such as UTC or Europe/Paris."),
    ],
)
def test_a_bad_value_stops_the_procfile_worker_with_one_line(tmp_path, variable, value, message):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        ["/bin/sh", "-c", procfile_command("worker")],  # as honcho runs it
        cwd=ROOT,
        env={**env, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"Configuration error: {message}"], result.stderr
