"""Django settings for the Assessment Portal.

Every value comes from an environment variable read through a typed helper in
portal/env.py; with nothing set the portal runs locally on SQLite, an embedded
Celery broker and a console mail backend. The README lists every variable.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from portal.env import (
    envbool,
    envbroker,
    envchoice,
    envdatabase,
    envint,
    envlist,
    envpath,
    envpath_or_none,
    envsecret,
    envstr,
    envtimezone,
    envurl,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = envpath("PORTAL_VAR_DIR", BASE_DIR / "var")

# The placeholder is refused by the portal.E001 system check whenever DEBUG is off.
PLACEHOLDER_SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

DEBUG = envbool("DEBUG", True)
SECRET_KEY = envsecret("SECRET_KEY", PLACEHOLDER_SECRET_KEY)

PORTAL_BASE_URL = envurl("PORTAL_BASE_URL", "http://127.0.0.1:8000")
_base = urlsplit(PORTAL_BASE_URL)
PORTAL_HTTPS = _base.scheme == "https"
# The data directory: repositories, bundles, assessment snapshots. One owner (the web server's
# user); empty on a scoring worker of another host, which fetches what it scores over HTTP.
PORTAL_DATA_DIR = envpath_or_none("PORTAL_DATA_DIR", VAR_DIR / "data")
# This host's own cache: sandbox runtimes, and the packages and commits a worker fetched. Safe to delete.
PORTAL_CACHE_DIR = envpath("PORTAL_CACHE_DIR", VAR_DIR / "cache")
# An operator's folder of templates, searched before the portal's own: any template (the wording
# of the emails too) can be overridden there by a file of the same relative name.
PORTAL_TEMPLATE_DIR = envpath("PORTAL_TEMPLATE_DIR", Path()) if envstr("PORTAL_TEMPLATE_DIR", "") else None

INSTALLED_APPS = [
    "portal.accounts",
    "portal.core",
    "portal.assessments",
    "portal.invites",
    "portal.hosting",
    "portal.scoring",
    "portal.reviews",
    "portal.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
]

MIDDLEWARE = [
    # Before anything reads a body: a client that stops sending is given up on.
    "portal.core.middleware.SlowClientMiddleware",
    # First of the rest, so that everything after it sees the client's address rather than the proxy's.
    "portal.core.middleware.ClientAddressMiddleware",
    # The https redirect for public requests on the paths exempted below for internal ones.
    "portal.core.middleware.PublicHttpsRedirectMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a sign-in refused by the axes backend into the lockout page; after the auth middleware.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [*([PORTAL_TEMPLATE_DIR] if PORTAL_TEMPLATE_DIR else []), BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.web.context_processors.navigation",
            ],
        },
    },
]

_sqlite_default = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": str(VAR_DIR / "portal.sqlite3"),
}
DATABASES = {"default": envdatabase("DATABASE_URL", _sqlite_default)}
if DATABASES["default"] == _sqlite_default:
    # The zero-configuration database lives in var/, which a fresh checkout lacks.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL and IMMEDIATE transactions let the web server and the worker write the
    # same file without "database is locked" errors under ordinary load.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so that worker processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in throttling -----------------------------------------------------
# django-axes counts failed sign-ins (the login page and the admin's) per username and client
# address together: at the limit that pair gets the lockout page (429) until the cool-off has
# passed since its last try, while the same user still signs in from anywhere else, so a guesser
# cannot lock a colleague out everywhere. Unlock early with `manage.py axes_reset_username`.
PORTAL_LOGIN_MAX_FAILURES = envint("PORTAL_LOGIN_MAX_FAILURES", 5, minimum=1)
PORTAL_LOGIN_COOLOFF_MINUTES = envint("PORTAL_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
# Password reset requests per client address per hour; more get the same page and no email.
PORTAL_PASSWORD_RESET_MAX_PER_HOUR = envint("PORTAL_PASSWORD_RESET_MAX_PER_HOUR", 5, minimum=1)
# The axes backend refuses a locked-out pair before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "portal.accounts.throttle.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = PORTAL_LOGIN_MAX_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=PORTAL_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# REMOTE_ADDR as ClientAddressMiddleware left it; never axes' own reading of X-Forwarded-For.
AXES_CLIENT_IP_CALLABLE = "portal.accounts.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "portal.accounts.throttle.locked_out"
# Failures are logged with the address; the username is masked there, since people type passwords
# into it by mistake (`manage.py axes_list_attempts` and the admin show it).
AXES_SENSITIVE_PARAMETERS = ["username"]
# Successful sign-ins are not recorded: that table would only grow.
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = envtimezone("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
if DEBUG:
    # WhiteNoise serves from the app folders in DEBUG but warns while STATIC_ROOT is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Git hosting ------------------------------------------------------------
# A push larger than this is refused by git (receive.maxInputSize).
PORTAL_GIT_MAX_PUSH_MB = envint("PORTAL_GIT_MAX_PUSH_MB", 50, minimum=1)
# A push adding more objects than this is refused by the pre-receive hook.
PORTAL_GIT_MAX_OBJECTS = envint("PORTAL_GIT_MAX_OBJECTS", 20000, minimum=10)
# A push that creates, moves or deletes more refs (branches and tags) than this is refused: each
# branch head is a run, and every ref update is recorded.
PORTAL_GIT_MAX_REFS_PER_PUSH = envint("PORTAL_GIT_MAX_REFS_PER_PUSH", 20, minimum=1)
# Longest one clone, fetch or push may take before git http-backend is killed.
PORTAL_GIT_TIMEOUT = envint("PORTAL_GIT_TIMEOUT", 600, minimum=10)
# Seconds a client may send or receive nothing in the middle of a request (a body announced and
# never sent, a clone it stopped reading) before the portal gives up on it (under gunicorn).
PORTAL_REQUEST_IDLE_TIMEOUT = envint("PORTAL_REQUEST_IDLE_TIMEOUT", 60, minimum=1)
# Git requests one web process serves at once (a transfer holds a thread while it lasts): below
# gunicorn's threads (WEB_THREADS), so that pages and /healthz always have one; per invite as well,
# so that one candidate cannot take them all. Past either, 503 with Retry-After. Scoring workers'
# fetches are not counted.
WEB_THREADS = envint("WEB_THREADS", 8, minimum=1)
PORTAL_GIT_MAX_REQUESTS = envint("PORTAL_GIT_MAX_REQUESTS", max(1, WEB_THREADS - 2), minimum=1)
PORTAL_GIT_MAX_REQUESTS_PER_INVITE = envint("PORTAL_GIT_MAX_REQUESTS_PER_INVITE", 3, minimum=1)
# Failed git logins in the window before 429 (a right password always gets in): per address and
# invite together, then a wait that doubles per failure up to the window; per address, failures
# on invite ids that do not exist. No per-invite limit: failures from other addresses would let
# strangers slow a candidate down.
PORTAL_GIT_AUTH_WINDOW = envint("PORTAL_GIT_AUTH_WINDOW", 600, minimum=10)
PORTAL_GIT_AUTH_MAX_PER_PAIR = envint("PORTAL_GIT_AUTH_MAX_PER_PAIR", 10, minimum=1)
PORTAL_GIT_AUTH_MAX_PER_ADDRESS = envint("PORTAL_GIT_AUTH_MAX_PER_ADDRESS", 20, minimum=1)
# Wrong or revoked invitation links allowed per address in the same window before 429.
PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = envint("PORTAL_LINK_MAX_FAILURES_PER_ADDRESS", 30, minimum=1)
# Scoring workers on other hosts fetch commits with user "worker" and this token; by default
# it is a random one kept in the data directory (portal/core/workers.py), never derived from SECRET_KEY.
PORTAL_WORKER_GIT_TOKEN = envsecret("PORTAL_WORKER_GIT_TOKEN", "")
# Where such workers reach the portal, if not at PORTAL_BASE_URL (say http://web:8000 in compose).
PORTAL_INTERNAL_URL = envurl("PORTAL_INTERNAL_URL", "")
PORTAL_GIT_AUTHOR = ("Assessment Portal", "portal@localhost")

# --- Scoring ----------------------------------------------------------------
# A commit with more files, or more bytes in all, is not scored (an error run says why).
PORTAL_SCORING_MAX_FILES = envint("PORTAL_SCORING_MAX_FILES", 5000, minimum=10)
PORTAL_SCORING_MAX_TREE_MB = envint("PORTAL_SCORING_MAX_TREE_MB", 100, minimum=1)
# Seconds a run's candidate code (app, visible and hidden tests) may take in all; past it the run
# is an error that says so. Below CELERY_TASK_SOFT_TIME_LIMIT, so the run ends before the task.
PORTAL_RUN_BUDGET_SECONDS = envint("PORTAL_RUN_BUDGET_SECONDS", 240, minimum=10)
# Runs of one invite handed to the workers at a time; the others wait in the database, so a
# candidate who pushes often delays others by at most this many runs (docs/operations.md).
PORTAL_RUNS_IN_FLIGHT_PER_INVITE = envint("PORTAL_RUNS_IN_FLIGHT_PER_INVITE", 1, minimum=1)

# --- Mail -------------------------------------------------------------------
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "Assessment Portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = envstr("EMAIL_HOST", "")
EMAIL_OUTBOX_DIR = VAR_DIR / "outbox"
# Candidates are reminded this many hours before their invite closes (0: no reminders).
PORTAL_REMINDER_HOURS = envint("PORTAL_REMINDER_HOURS", 24, minimum=0)
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30, minimum=1)
else:
    EMAIL_BACKEND = "portal.core.mail.ConsoleOutboxBackend"

# --- Security ---------------------------------------------------------------
# Besides the public host, the names that reach gunicorn directly: loopback for the container's
# health check, and the internal URL's host for scoring workers on other hosts. (ALLOWED_HOSTS
# spells IPv6 addresses in brackets, which urlsplit's hostname drops.)
_url_hosts = [urlsplit(url).hostname or "127.0.0.1" for url in (PORTAL_BASE_URL, PORTAL_INTERNAL_URL) if url]
_default_hosts = [f"[{host}]" if ":" in host else host for host in _url_hosts] + ["127.0.0.1", "localhost", "[::1]"]
if DEBUG:
    _default_hosts.append("testserver")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", sorted(set(_default_hosts)))
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [f"{_base.scheme}://{_base.netloc}"])
# How many reverse proxies append to X-Forwarded-For in front of the portal (0: none, so
# REMOTE_ADDR is the client); see portal/core/middleware.py. Never more than there are: the
# client could then choose its own address.
PORTAL_TRUSTED_PROXIES = envint("PORTAL_TRUSTED_PROXIES", 0, minimum=0)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PORTAL_HTTPS
CSRF_COOKIE_SECURE = PORTAL_HTTPS
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if envbool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a reverse proxy that sets this header itself; otherwise clients could forge it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PORTAL_HTTPS and not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # Health checks come over plain HTTP, and so do scoring workers at PORTAL_INTERNAL_URL for
    # git and /internal/ (portal.core.middleware.INTERNAL_PATHS). Django exempts by path only:
    # PublicHttpsRedirectMiddleware still redirects public requests for those two by Host.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^git/", r"^internal/"]
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is an operator's explicit, hard-to-undo choice; not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = envbroker("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Results live in the portal's own tables; Celery's result backend is not used.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 360, minimum=2)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Tasks named "scoring.*" run (or prepare) untrusted code and go to workers sized for it.
CELERY_TASK_ROUTES = {"scoring.*": {"queue": "scoring"}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
if CELERY_BROKER_URL.startswith(("redis", "rediss")):
    # Redis redelivers unacknowledged messages after this long; it must exceed the
    # hard time limit, or a long task would run twice at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 4}
# Where the scheduler embedded in `make run`'s worker (--beat) keeps its state.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "prune-auth-failures": {"task": "hosting.prune_auth_failures", "schedule": 3600.0},
    "reap-stuck-runs": {"task": "scoring.reap_stuck", "schedule": 60.0},
    "close-expired-invites": {"task": "invites.close_expired", "schedule": 60.0},
    "send-reminders": {"task": "invites.send_reminders", "schedule": 900.0},
    "reviewer-digest": {"task": "reviews.digest", "schedule": 86400.0},
}
# How long after its last heartbeat the status page reports a worker silent, and how often
# each worker records one (portal/celery.py): at least twice in that time, so that one late
# beat does not make a worker look silent.
PORTAL_WORKER_STALE_AFTER = envint("PORTAL_WORKER_STALE_AFTER", 120, minimum=30)
PORTAL_HEARTBEAT_SECONDS = envint("PORTAL_HEARTBEAT_SECONDS", 30, minimum=1, maximum=PORTAL_WORKER_STALE_AFTER // 2)

# --- Logging ----------------------------------------------------------------
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Link and password reset tokens travel in URLs: records write "[token]" instead (portal/core/redact.py).
    "filters": {"redact": {"()": "portal.core.redact.RedactFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": envchoice("LOG_LEVEL", "INFO", _LOG_LEVELS)},
    # One line per request the grader makes to a candidate's app is noise, not news.
    # Failed and locked-out sign-ins are axes' warnings, kept whatever LOG_LEVEL; its INFO lines are chatter.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
# Filtered where their records start, so that every handler (the mail to ADMINS too) gets them clean.
LOGGING["loggers"] |= {
    "django.request": {"filters": ["redact"]},
    "django.server": {"handlers": ["console"], "filters": ["redact"], "level": "INFO", "propagate": False},
}
# Error reports (the mail to ADMINS, the debug page): no tokens, no Authorization header, no cookies.
DEFAULT_EXCEPTION_REPORTER = "portal.core.redact.RedactingReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.core.redact.RedactingReporterFilter"
