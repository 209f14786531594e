"""Typed readers for environment variables, and the `.env` file that adds to them.

Settings read every value through these helpers so that a bad value stops start-up
with a message naming the variable, instead of surfacing later as an odd failure.
Framework-free on purpose: settings import this module before Django is configured.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from urllib.parse import urlsplit

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value if value != "" else None


def envstr(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def envbool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean: use true or false.")


def envint(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}={number} is above the maximum of {maximum}.")
    return number


def envchoice(name: str, default: str, choices: tuple[str, ...], *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def envlist(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    return [item for item in items if item]


def envsecret(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (docker secrets)."""
    value = _raw(name, environ)
    file_name = _raw(f"{name}_FILE", environ)
    if value is not None and file_name is not None:
        raise ConfigError(f"Set {name} or {name}_FILE, not both.")
    if file_name is not None:
        try:
            secret = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}.") from None
        if not secret:
            raise ConfigError(f"{name}_FILE={file_name!r} is empty.")
        return secret
    return default if value is None else value


def envurl(
    name: str,
    default: str,
    *,
    schemes: tuple[str, ...] = ("http", "https"),
    environ: Mapping[str, str] | None = None,
) -> str:
    """An absolute URL with one of the given schemes and a host; no trailing slash."""
    value = _raw(name, environ)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{name}={value!r} is not a URL starting with {allowed}.")
    return value.rstrip("/")


def envpath(name: str, default: Path, *, environ: Mapping[str, str] | None = None) -> Path:
    """A directory path; relative values are refused because the working directory varies."""
    value = _raw(name, environ)
    if value is None:
        return default
    path = Path(value)
    if not path.is_absolute():
        raise ConfigError(f"{name}={value!r} must be an absolute path.")
    return path


def envpath_or_none(name: str, default: Path, *, environ: Mapping[str, str] | None = None) -> Path | None:
    """Like :func:`envpath`, but set and empty means "none here" (None)."""
    value = (environ if environ is not None else os.environ).get(name)
    if value is not None and value.strip() == "":
        return None
    return envpath(name, default, environ=environ)


def envaddress(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    """An address for gunicorn to listen on: host:port, [ipv6]:port or unix:/absolute/path."""
    value = _raw(name, environ)
    if value is None:
        return default
    if value.startswith("unix:"):
        valid = value[len("unix:") :].startswith("/")
    else:
        host, _, port = value.rpartition(":")
        valid = bool(host) and port.isdecimal() and 0 < int(port) < 65536 and not any(c.isspace() for c in host)
    if not valid:
        raise ConfigError(f"{name}={value!r} is not an address to listen on: use host:port or unix:/path.")
    return value


# Where gunicorn listens when PORTAL_BIND is not set; PORTAL_BASE_URL's default follows the bind.
DEFAULT_BIND = "127.0.0.1:8000"


def url_of_bind(bind: str) -> str:
    """The http:// address at which a browser on this host reaches gunicorn listening on ``bind``.

    PORTAL_BASE_URL defaults to it, so that with only PORTAL_BIND set the links the portal writes
    (invitations, clone URLs, `make run`'s "sign in at") point where it really listens. A wildcard
    address listens on every interface, of which loopback is the one surely reachable from here. A
    unix socket is reached through a proxy whose address the portal cannot know: http://localhost,
    until PORTAL_BASE_URL says otherwise.
    """
    if bind.startswith("unix:"):
        return "http://localhost"
    host, _, port = bind.rpartition(":")
    if host == "0.0.0.0":  # noqa: S104 - compared, not bound
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return f"http://{host}:{port}"


def envtimezone(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A time zone name from the IANA database, such as UTC or Europe/Paris."""
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a time zone: use a name such as UTC or Europe/Paris.") from None
    return value


_DB_ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}


def envdatabase(name: str, default: dict, *, environ: Mapping[str, str] | None = None) -> dict:
    """A Django DATABASES entry from a URL such as postgres://user:pass@host:5432/name.

    Only the engines the portal is tested on are accepted; sqlite:////abs/path works too.
    """
    value = _raw(name, environ)
    if value is None:
        return dict(default)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name} is malformed: {exc}.") from None
    engine = _DB_ENGINES.get(parts.scheme)
    if engine is None:
        raise ConfigError(f"{name} must start with postgres:// or sqlite:///, got {parts.scheme or 'no scheme'!r}.")
    db_name = parts.path.lstrip("/") if engine.endswith("postgresql") else parts.path[1:]
    if not db_name:
        raise ConfigError(f"{name} names no database (expected .../<name> at the end).")
    if engine.endswith("postgresql"):
        if not parts.hostname:
            raise ConfigError(f"{name} names no host.")
        config = {
            "ENGINE": engine,
            "NAME": db_name,
            "USER": parts.username or "",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname,
            "PORT": str(port or 5432),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    else:
        if not db_name.startswith("/"):
            raise ConfigError(f"{name} must give an absolute SQLite path, as sqlite:////abs/path.db.")
        config = {"ENGINE": engine, "NAME": db_name}
    return config


_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqla+sqlite", "sqla+postgresql")


def envbroker(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A Celery broker URL: Redis, RabbitMQ, or kombu's SQLAlchemy transport."""
    value = _raw(name, environ)
    if value is None:
        return default
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in _BROKER_SCHEMES:
        raise ConfigError(f"{name}={value!r} is not a supported broker URL ({', '.join(_BROKER_SCHEMES)}).")
    return value


# --- The .env file ------------------------------------------------------------------------

# The project root's .env, which docker compose reads too; PORTAL_ENV_FILE names another file.
ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(.*)')


class _Malformed(ValueError):
    """A line of the file that cannot be read; the message names the variable, never its value."""


def load_env_file(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Add the variables of the .env file to the environment; a variable already set, even empty, wins.

    manage.py, `python -m portal.serve` and `celery -A portal` call this before anything reads a
    setting, so a command typed by hand sees what the services see. The file is `.env` in the
    project root, or the absolute path in PORTAL_ENV_FILE (set and empty: no file). A missing
    `.env` is no error, a missing named file is. Returns the file read, if any.
    """
    env = os.environ if environ is None else environ
    path = envpath_or_none("PORTAL_ENV_FILE", ENV_FILE, environ=env)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if "PORTAL_ENV_FILE" not in env:
            return None
        raise ConfigError(f"PORTAL_ENV_FILE={str(path)!r} does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text.") from None
    variables = read_env_file(text, source=path)
    if "PORTAL_ENV_FILE" in variables:
        # Loading is repeated by each entry point; a file naming another would make the second load read that one.
        raise ConfigError(f"{path} sets PORTAL_ENV_FILE: set it in the environment, not in the file.")
    for name, value in variables.items():
        env.setdefault(name, value)
    return path


def read_env_file(text: str, *, source: Path | str) -> dict[str, str]:
    """The variables of a .env file's ``text``; a malformed line raises ConfigError naming ``source`` and the line.

    One `NAME=value` per line, optionally after `export `; blank lines and lines starting with `#`
    are skipped. A value is taken as written, or in single quotes (nothing inside is special), or
    in double quotes (where only \\" and \\\\ are escapes). The reader is strict: it refuses what
    docker compose and systemd's EnvironmentFile= would read differently (a `$`, which compose
    expands; an inline ` #` comment, which only compose drops; a quote or backslash inside an
    unquoted value; a value over several lines), so the file means one thing to all three.
    """
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            assignment = _assignment(line)
        except _Malformed as exc:
            raise ConfigError(f"{source}, line {number}: {exc}") from None
        if assignment is not None:
            name, value = assignment
            variables[name] = value
    return variables


def _assignment(line: str) -> tuple[str, str] | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    if re.match(r"export\s", line):
        line = line[len("export") :].lstrip()
    name, equals, rest = line.partition("=")
    name = name.strip()
    if not equals or not _NAME.fullmatch(name):
        raise _Malformed("expected NAME=value (a name of letters, digits and _ that does not start with a digit).")
    rest = rest.strip()
    if rest[:1] == "'":
        value, after = _single_quoted(name, rest)
    elif rest[:1] == '"':
        value, after = _double_quoted(name, rest)
    else:
        return name, _unquoted(name, rest)
    if after.strip():
        raise _Malformed(f"{name}: text after the closing quote; put a comment on a line of its own.")
    return name, value


def _single_quoted(name: str, rest: str) -> tuple[str, str]:
    end = rest.find("'", 1)
    if end < 0:
        raise _Malformed(f"{name}: the quote ' is not closed on this line (a value spans one line).")
    return rest[1:end], rest[end + 1 :]


def _double_quoted(name: str, rest: str) -> tuple[str, str]:
    quoted = _DOUBLE_QUOTED.match(rest)
    if quoted is None:
        raise _Malformed(f'{name}: the quote " is not closed on this line (a value spans one line).')
    inside, after = quoted.groups()
    if "$" in inside:
        raise _Malformed(f"{name}: docker compose would read $ as a variable; use single quotes to keep it.")
    if any(escaped not in '"\\' for escaped in re.findall(r"\\(.)", inside)):
        raise _Malformed(f'{name}: in double quotes a backslash escapes only " or \\; use single quotes.')
    return re.sub(r'\\(["\\])', r"\1", inside), after


def _unquoted(name: str, value: str) -> str:
    if "$" in value:
        raise _Malformed(f"{name}: docker compose would read $ as a variable; put the value in single quotes.")
    if any(char in value for char in "'\"\\"):
        raise _Malformed(f"{name}: a quote or backslash inside the value; put the whole value in single quotes.")
    if re.search(r"\s#", value):
        raise _Malformed(
            f"{name}: docker compose would drop ' #...' as a comment, systemd would keep it; "
            "put comments on lines of their own."
        )
    return value
