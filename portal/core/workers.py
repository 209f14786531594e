"""The worker credential: how a scoring worker on any host proves itself to the portal.

A worker needs the database, the broker and the portal's internal URL, nothing else. What it
scores (a commit, an assessment version) it fetches from the web server over HTTP with the
user ``worker`` and this token: git smart HTTP for commits, /internal/ for packages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from django.conf import settings

WORKER_USER = "worker"


def worker_token() -> str:
    """PORTAL_WORKER_GIT_TOKEN if set, else a value derived from SECRET_KEY."""
    if settings.PORTAL_WORKER_GIT_TOKEN:
        return settings.PORTAL_WORKER_GIT_TOKEN
    return hmac.new(settings.SECRET_KEY.encode(), b"portal worker git token", hashlib.sha256).hexdigest()


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
    """True for the worker user with the right token (compared in constant time)."""
    return user == WORKER_USER and hmac.compare_digest(password.encode(), worker_token().encode())


def worker_authorization() -> str:
    """The Authorization header value a worker sends."""
    return "Basic " + base64.b64encode(f"{WORKER_USER}:{worker_token()}".encode()).decode()
