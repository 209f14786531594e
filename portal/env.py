"""Typed readers for environment variables.

Settings read every value through these helpers so that a bad value stops start-up
with a message naming the variable, instead of surfacing later as an odd failure.
Framework-free on purpose: settings import this module before Django is configured.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
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
