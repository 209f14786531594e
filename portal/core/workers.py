"""The worker credential: how a scoring worker on any host proves itself to the portal.

A worker needs the database, the broker and the portal's internal URL, nothing else. What it
scores (a commit, an assessment version) it fetches from the web server over HTTP with the
user ``worker`` and this token: git smart HTTP for commits, /internal/ for packages.

The token is PORTAL_WORKER_GIT_TOKEN when set; otherwise a random secret made once per
installation and kept in the data directory (``secrets/worker-git-token``, mode 0600), so every
process that shares the directory agrees on it and no one can compute it. It was once derived
from SECRET_KEY, whose placeholder is public: a portal left unconfigured let anyone read every
repository as ``worker``. A process with neither (a worker of another host not given the
variable) has no credential: it cannot fetch, and says so (:class:`NoWorkerCredential`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from django.conf import settings

from gitplumbing.ownership import owned_mkdir, owner_to_act_as
from portal.core.datadir import data_dir, has_data_dir

WORKER_USER = "worker"
# Where the installation's own token lives, under the data directory.
TOKEN_FILE = Path("secrets") / "worker-git-token"


class NoWorkerCredential(RuntimeError):
    """This process has no worker credential; the message says how to give it one."""

    def __init__(self) -> None:
        super().__init__(
            "This host has no worker credential: it has no data directory (PORTAL_DATA_DIR is empty) and "
            "PORTAL_WORKER_GIT_TOKEN is not set. Set PORTAL_WORKER_GIT_TOKEN to the web server's token: its "
            f"PORTAL_WORKER_GIT_TOKEN, or else the content of <data directory>/{TOKEN_FILE}."
        )


def has_worker_credential() -> bool:
    """Whether this process has a worker token (set, or kept in its data directory)."""
    return bool(settings.PORTAL_WORKER_GIT_TOKEN) or has_data_dir()


def worker_token_path() -> Path:
    """The file that keeps the installation's token (NoDataDirectory on a host without the directory)."""
    return data_dir() / TOKEN_FILE


def worker_token() -> str:
    """PORTAL_WORKER_GIT_TOKEN if set, else the data directory's token (made on first use);
    NoWorkerCredential when this process has neither."""
    if settings.PORTAL_WORKER_GIT_TOKEN:
        return settings.PORTAL_WORKER_GIT_TOKEN
    if not has_data_dir():
        raise NoWorkerCredential()
    path = worker_token_path()
    try:
        return _token_read(path)
    except FileNotFoundError:
        return _token_create(path)


def _token_read(path: Path) -> str:
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise RuntimeError(f"The worker token file {path} is empty: delete it and a new token is made on next use.")
    return token


def _token_create(path: Path) -> str:
    """Make the token file once, whole and private, as the data directory's owner.

    Written to a temporary file and hard-linked into place: the link fails if another process
    made the file first, and then both use that one, so concurrent first uses agree.
    """
    owned_mkdir(path.parent.parent)
    owned_mkdir(path.parent, mode=0o700)
    owner = owner_to_act_as(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".worker-git-token-")  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        if owner is not None:
            os.chown(temporary, *owner)
        # If another process made it first, its token is the installation's.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _token_read(path)


def internal_url() -> str:
    """Where workers reach the web server: PORTAL_INTERNAL_URL, else PORTAL_BASE_URL (no trailing slash)."""
    return (settings.PORTAL_INTERNAL_URL or settings.PORTAL_BASE_URL).rstrip("/")


def basic_credentials(request) -> tuple[str, str] | None:
    """(user, password) from an HTTP Basic Authorization header; None if absent or malformed."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def is_worker(user: str, password: str) -> bool:
    """True for the worker user with the right token (compared in constant time); always False
    in a process without a worker credential."""
    if user != WORKER_USER or not has_worker_credential():
        return False
    return hmac.compare_digest(password.encode(), worker_token().encode())


def worker_authorization() -> str:
    """The Authorization header value a worker sends (NoWorkerCredential in a process without one)."""
    return "Basic " + base64.b64encode(f"{WORKER_USER}:{worker_token()}".encode()).decode()
