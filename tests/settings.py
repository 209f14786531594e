"""Settings for the test suite: the portal's own, with state kept apart from a local run.

The broker, data directory and cache are set through the environment before the portal's
settings load, so worker processes started by tests (which inherit the environment)
use the same ones. Anything already set, such as the CI leg's Redis and PostgreSQL
URLs, wins.
"""

import os
from pathlib import Path

_var = Path(os.environ.get("PORTAL_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
os.environ.setdefault("CELERY_BROKER_URL", f"sqla+sqlite:///{_var / 'test-celery-broker.sqlite3'}")
os.environ.setdefault("PORTAL_DATA_DIR", str(_var / "test-data"))
os.environ.setdefault("PORTAL_CACHE_DIR", str(_var / "test-cache"))

from portal.settings import *  # noqa: E402, F403

# Hashing with the default PBKDF2 iterations dominates persona-heavy tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Mail stays in memory, unless a test starts a process with EMAIL_HOST set to its own SMTP server.
if not os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
