"""Settings for the test suite: the portal's own, with state kept apart from a local run.

The broker, data directory and cache are set through the environment before the portal's
settings load, so worker processes started by tests (which inherit the environment)
use the same ones. Anything already set, such as the CI leg's Redis and PostgreSQL
URLs, wins.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# A developer's .env (an SMTP server, a real database) never reaches the suite, nor the processes
# it starts: they read no env file. Tests of the .env itself name their own (PORTAL_ENV_FILE).
os.environ.setdefault("PORTAL_ENV_FILE", "")

_var = Path(os.environ.get("PORTAL_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
# Under pytest-xdist every worker process (gw0, gw1, ...) has its own state: its own folder for the
# test database, broker, data directory, outbox and beat schedule, its own Redis database, and
# pytest-django gives it its own test database. Only the cache is shared: the sandbox runtimes in
# it are built once, under a lock, and never change.
# Processes the tests start inherit this environment and read these settings again: the worker's
# state is chosen once, by the test process, and inherited as it is.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("PORTAL_TEST_STATE_OF") == _worker:
    _worker = ""
_state = _var / f"test-{_worker}" if _worker else _var
if _worker:
    os.environ["PORTAL_TEST_STATE_OF"] = _worker
    _state.mkdir(parents=True, exist_ok=True)
    os.environ["PORTAL_VAR_DIR"] = str(_state)
    _broker = urlsplit(os.environ.get("CELERY_BROKER_URL", ""))
    if _broker.scheme in ("redis", "rediss"):
        # Redis has databases 0 to 15; workers count down from the one configured.
        _index = int(_worker.removeprefix("gw") or 0)
        _database = (int(_broker.path.strip("/") or 0) - _index) % 16
        os.environ["CELERY_BROKER_URL"] = urlunsplit(_broker._replace(path=f"/{_database}"))
# pytest-xdist's controller reads these settings too, and its workers inherit what it chose: a
# worker chooses again for its own state what the controller chose, and keeps what was given.
_chosen = set(filter(None, os.environ.get("PORTAL_TEST_CHOSE", "").split(",")))
for _key, _value in {
    "CELERY_BROKER_URL": f"sqla+sqlite:///{_state / 'test-celery-broker.sqlite3'}",
    "PORTAL_DATA_DIR": str(_state / "test-data"),
    "PORTAL_CACHE_DIR": str(_var / "test-cache"),
}.items():
    if _key not in os.environ or (_worker and _key in _chosen):
        os.environ[_key] = _value
        _chosen.add(_key)
os.environ["PORTAL_TEST_CHOSE"] = ",".join(sorted(_chosen))

from portal.settings import *  # noqa: E402, F403

# Validations through the portal search for flaky tests with 3 runs, not each package's 60: the
# mechanism is exercised in every validation at a twentieth of its cost. The search itself, at
# its full count, is tested on the tiny package (tests/grader/test_flaky_tests.py).
if not os.environ.get("PORTAL_VALIDATION_FLAKE_RUNS"):
    PORTAL_VALIDATION_FLAKE_RUNS = 3
# Hashing with the default PBKDF2 iterations dominates persona-heavy tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Mail stays in memory, unless a test starts a process with EMAIL_HOST set to its own SMTP server.
if not os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
