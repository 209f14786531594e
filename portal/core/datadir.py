"""The data directory: repositories, bundles and assessment snapshots, with one owner.

Paths into it are derived (from an invite's public id, a version's content hash) or stored
relative to it, never absolute, so the directory can be restored somewhere else. A scoring
worker on another host has none (PORTAL_DATA_DIR set and empty) and fetches what it scores.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


class NoDataDirectory(RuntimeError):
    """This process has no data directory; the message says where to run the task instead."""

    @classmethod
    def for_command(cls, name: str) -> NoDataDirectory:
        return cls(
            f"This host has no data directory (PORTAL_DATA_DIR is empty): run `manage.py {name}` where the web "
            "server's data directory is mounted (in compose: the web or worker service)."
        )


def data_dir() -> Path:
    """PORTAL_DATA_DIR, or NoDataDirectory on a host configured without it."""
    if settings.PORTAL_DATA_DIR is None:
        raise NoDataDirectory(
            "This host has no data directory (PORTAL_DATA_DIR is empty): run this where the web server's "
            "data directory is mounted (in compose: the web or worker service)."
        )
    return settings.PORTAL_DATA_DIR


def has_data_dir() -> bool:
    return settings.PORTAL_DATA_DIR is not None


def cache_dir() -> Path:
    """This host's cache: runtimes, fetched packages and commits. Safe to delete while nothing runs."""
    return settings.PORTAL_CACHE_DIR
