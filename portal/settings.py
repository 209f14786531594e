"""Django settings for the Assessment Portal.

Every value comes from an environment variable read through a typed helper in
portal/env.py; with nothing set the portal runs locally on SQLite, an embedded
Celery broker and a console mail backend. The README lists every variable.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONCE, NONE, SELF

from portal.env import (
    DEFAULT_BIND,
    ConfigError,
    envaddress,
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
    url_of_bind,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = envpath("PORTAL_VAR_DIR", BASE_DIR / "var")

# The placeholder is refused by the portal.E001 system check whenever DEBUG is off.
PLACEHOLDER_SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

DEBUG = envbool("DEBUG", True)
SECRET_KEY = envsecret("SECRET_KEY", PLACEHOLDER_SECRET_KEY)

# Where gunicorn listens (portal/gunicorn.conf.py reads it too); the base URL follows it unless set.
PORTAL_BIND = envaddress("PORTAL_BIND", DEFAULT_BIND)
PORTAL_BASE_URL = envurl("PORTAL_BASE_URL", url_of_bind(PORTAL_BIND))
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
    "portal.integrity",
    "portal.reviews",
    "portal.webhooks",
    "portal.api",
    "portal.ats",
    "portal.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    # The second factor of staff accounts: TOTP devices (authenticator apps), portal/accounts/middleware.py.
    "django_otp",
    "django_otp.plugins.otp_totp",
    # The REST API (portal/api), its OpenAPI schema and the schema browser's vendored assets.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Single sign-on with OpenID Connect (portal/accounts/sso.py).
    "mozilla_django_oidc",
]

MIDDLEWARE = [
    # First: every record written while a request is served carries its id (portal/core/logcontext.py).
    "portal.core.logcontext.RequestIdMiddleware",
    # Before anything reads a body: a client that stops sending is given up on.
    "portal.core.middleware.SlowClientMiddleware",
    # First of the rest, so that everything after it sees the client's address rather than the proxy's.
    "portal.core.middleware.ClientAddressMiddleware",
    # The https redirect for public requests on the paths exempted below for internal ones.
    "portal.core.middleware.PublicHttpsRedirectMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header of every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # request.user.is_verified(): whether this session passed the second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # Staff sessions end after PORTAL_STAFF_IDLE_MINUTES without a request (after messages: it says so).
    "portal.accounts.middleware.StaffIdleTimeoutMiddleware",
    # Until verified, a staff session reaches only the second-factor pages and sign-out.
    "portal.accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a sign-in refused by the axes backend into the lockout page; after the auth middleware.
    "axes.middleware.AxesMiddleware",
    # Last: the portal's 404 and 500 pages with DEBUG on too, never Django's debug pages.
    "portal.core.errors.ErrorPagesMiddleware",
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
    # Kept open between requests, as PostgreSQL's are (env.py): opening one and running the
    # pragmas costs 1 to 2 ms, a fifth of a small push's time around git.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # A file, not :memory:, so that worker processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
# Flash messages live in the session (server-side), never in a cookie the browser can read: they
# may name a candidate that a blind reviewer must not see.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
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

# --- Second factor and staff sessions -----------------------------------------
# Who must enter a code from an authenticator app after the password: "staff" (staff and superusers,
# who can change anything) or "everyone". The first sign-in after that leads through enrolment.
PORTAL_2FA_FOR = envchoice("PORTAL_2FA_FOR", "staff", ("staff", "everyone"))
# A staff session ends after this many minutes without a request; others last SESSION_COOKIE_AGE (14 days).
PORTAL_STAFF_IDLE_MINUTES = envint("PORTAL_STAFF_IDLE_MINUTES", 30, minimum=1)
# The name the authenticator app shows next to the account.
OTP_TOTP_ISSUER = "Assessment Portal"
# After n wrong codes in a row, the next try waits 2^(n-1) seconds (django-otp's own throttle, per device).
OTP_TOTP_THROTTLE_FACTOR = 1

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
# gunicorn's threads (WEB_THREADS), so that pages and /healthz have some; per invite as well, served
# or waiting, so that one candidate cannot take them all (past it, 429 with Retry-After). A request
# that finds every slot taken waits up to PORTAL_GIT_SLOT_WAIT seconds for one (then 503): a
# deadline rush of pushes waits its turn instead of failing. Scoring workers' fetches are not counted.
WEB_THREADS = envint("WEB_THREADS", 16, minimum=1)
PORTAL_GIT_MAX_REQUESTS = envint("PORTAL_GIT_MAX_REQUESTS", max(1, WEB_THREADS - 4), minimum=1)
PORTAL_GIT_MAX_REQUESTS_PER_INVITE = envint("PORTAL_GIT_MAX_REQUESTS_PER_INVITE", 3, minimum=1)
PORTAL_GIT_SLOT_WAIT = envint("PORTAL_GIT_SLOT_WAIT", 30, minimum=0)
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
# Lets Prometheus read /metrics from anywhere with "Authorization: Bearer <token>"; empty: only from
# inside, as the internal paths are (portal/web/metrics.py, docs/observability.md).
PORTAL_METRICS_TOKEN = envsecret("PORTAL_METRICS_TOKEN", "")
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
# Runs of the search for flaky hidden tests in every validation (load_assessment, seed_demo,
# validate_assessment), whatever a package's [hidden_tests] flake_runs says; unset: the package's.
PORTAL_VALIDATION_FLAKE_RUNS = (
    envint("PORTAL_VALIDATION_FLAKE_RUNS", 0, minimum=0) if envstr("PORTAL_VALIDATION_FLAKE_RUNS", "") else None
)

# --- Mail -------------------------------------------------------------------
# The organisation candidates apply to, as they know it ("Example Ltd"): the invitation reads
# "Rita Ross at Example Ltd has invited you" (docs/operations.md). Empty: the person alone.
PORTAL_ORGANISATION = envstr("PORTAL_ORGANISATION", "")
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
# Content-Security-Policy (django-csp): scripts, styles and everything else only from the portal's
# own files; no inline script without the page's nonce (`nonce="{{ request.csp_nonce }}"`), no inline
# style at all (htmx's indicator style is turned off in base.html); images may be data: URIs (Pico's
# icons). No framing, no form posting elsewhere, no <base> or plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
if envbool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a reverse proxy that sets this header itself; otherwise clients could forge it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PORTAL_HTTPS and not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # Health checks come over plain HTTP, and so do scoring workers at PORTAL_INTERNAL_URL for
    # git and /internal/, and Prometheus for /metrics (portal.core.middleware.INTERNAL_PATHS).
    # Django exempts by path only: PublicHttpsRedirectMiddleware still redirects public requests
    # for those by Host.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^git/", r"^internal/", r"^metrics$"]
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is an operator's explicit, hard-to-undo choice; not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Celery -----------------------------------------------------------------
# What the sweep (scoring.sweep, sent by beat) repairs, and how often: runs the broker never took,
# runs it took this long ago that no idle worker started, runs on a worker silent for
# PORTAL_WORKER_DEAD_AFTER (a killed worker's run comes back in about a minute, not at the time limit).
PORTAL_SWEEP_SECONDS = envint("PORTAL_SWEEP_SECONDS", 30, minimum=1)
PORTAL_RUN_RESEND_AFTER = envint("PORTAL_RUN_RESEND_AFTER", 60, minimum=5)
PORTAL_WORKER_DEAD_AFTER = envint("PORTAL_WORKER_DEAD_AFTER", 60, minimum=3)
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
    "sweep-runs": {"task": "scoring.sweep", "schedule": float(PORTAL_SWEEP_SECONDS)},
    "close-expired-invites": {"task": "invites.close_expired", "schedule": 60.0},
    "send-reminders": {"task": "invites.send_reminders", "schedule": 900.0},
    "reviewer-digest": {"task": "reviews.digest", "schedule": 86400.0},
}
# How long after its last heartbeat the status page reports a worker silent, and how often
# each worker records one (portal/celery.py): at least twice in that time, so that one late
# beat does not make a worker look silent.
PORTAL_WORKER_STALE_AFTER = envint("PORTAL_WORKER_STALE_AFTER", 120, minimum=30)
# Four beats in PORTAL_WORKER_DEAD_AFTER by default, so that one late beat never sends a run again.
PORTAL_HEARTBEAT_SECONDS = envint(
    "PORTAL_HEARTBEAT_SECONDS",
    max(1, min(15, PORTAL_WORKER_DEAD_AFTER // 4)),
    minimum=1,
    maximum=min(PORTAL_WORKER_STALE_AFTER, PORTAL_WORKER_DEAD_AFTER) // 2,
)

# --- Webhooks (portal/webhooks, docs/api.md) ---------------------------------
# Endpoints on loopback, private, link-local or reserved addresses, or on the portal's own host, are
# refused unless this is on (an install whose receivers live on its own network); or name such hosts
# one by one in PORTAL_WEBHOOKS_ALLOWED_HOSTS.
PORTAL_WEBHOOKS_ALLOW_PRIVATE = envbool("PORTAL_WEBHOOKS_ALLOW_PRIVATE", False)
PORTAL_WEBHOOKS_ALLOWED_HOSTS = [host.lower() for host in envlist("PORTAL_WEBHOOKS_ALLOWED_HOSTS", [])]
# Seconds to connect, and for the whole attempt (connect, send, the answer's first KB).
PORTAL_WEBHOOKS_CONNECT_TIMEOUT = envint("PORTAL_WEBHOOKS_CONNECT_TIMEOUT", 5, minimum=1, maximum=60)
PORTAL_WEBHOOKS_TIMEOUT = envint("PORTAL_WEBHOOKS_TIMEOUT", 15, minimum=1, maximum=120)
# Seconds between attempts after the first (Standard Webhooks' suggestion); then the delivery gives up.
# Each step is read as PORTAL_WEBHOOKS_RETRY_SECONDS alone, so a bad one stops start-up naming the variable.
PORTAL_WEBHOOKS_RETRY_SECONDS = [
    envint("PORTAL_WEBHOOKS_RETRY_SECONDS", 0, minimum=0, environ={"PORTAL_WEBHOOKS_RETRY_SECONDS": step})
    for step in envlist("PORTAL_WEBHOOKS_RETRY_SECONDS", ["5", "300", "1800", "7200", "18000", "36000", "36000"])
]
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {"task": "webhooks.sweep", "schedule": 30.0}
# Similarity checks of submissions the broker never took (portal/integrity, RESEND_AFTER).
CELERY_BEAT_SCHEDULE["integrity-sweep"] = {"task": "integrity.sweep", "schedule": 300.0}

# --- Single sign-on -----------------------------------------------------------
# OpenID Connect (portal/accounts/sso.py, docs/api.md "Single sign-on"): on when a client id is
# set. The provider's endpoints are set explicitly, never discovered at start-up (a portal must
# start while its provider is away); `manage.py sso_discover <issuer>` prints them once.
PORTAL_OIDC_CLIENT_ID = envstr("PORTAL_OIDC_CLIENT_ID", "")
PORTAL_SSO = bool(PORTAL_OIDC_CLIENT_ID)
# Shown on the login page's button: "Sign in with <name>".
PORTAL_OIDC_PROVIDER_NAME = envstr("PORTAL_OIDC_PROVIDER_NAME", "single sign-on")
OIDC_RP_CLIENT_ID = PORTAL_OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = envsecret("PORTAL_OIDC_CLIENT_SECRET", "")
OIDC_OP_ISSUER = envurl("PORTAL_OIDC_ISSUER", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = envurl("PORTAL_OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = envurl("PORTAL_OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = envurl("PORTAL_OIDC_JWKS_ENDPOINT", "")
# Optional: claims the ID token lacks are read there. The provider's session may be ended at sign-out.
OIDC_OP_USER_ENDPOINT = envurl("PORTAL_OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_LOGOUT_ENDPOINT = envurl("PORTAL_OIDC_END_SESSION_ENDPOINT", "")
if PORTAL_SSO:
    _missing = [
        name
        for name, value in (
            ("PORTAL_OIDC_CLIENT_SECRET", OIDC_RP_CLIENT_SECRET),
            ("PORTAL_OIDC_ISSUER", OIDC_OP_ISSUER),
            ("PORTAL_OIDC_AUTHORIZATION_ENDPOINT", OIDC_OP_AUTHORIZATION_ENDPOINT),
            ("PORTAL_OIDC_TOKEN_ENDPOINT", OIDC_OP_TOKEN_ENDPOINT),
            ("PORTAL_OIDC_JWKS_ENDPOINT", OIDC_OP_JWKS_ENDPOINT),
        )
        if not value
    ]
    if _missing:
        raise ConfigError(
            f"PORTAL_OIDC_CLIENT_ID is set, so set {', '.join(_missing)} too (manage.py sso_discover prints them)."
        )
OIDC_RP_SCOPES = envstr("PORTAL_OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = 10
OIDC_STORE_ID_TOKEN = True  # the hint for the provider's end_session_endpoint at sign-out
OIDC_AUTHENTICATION_CALLBACK_URL = "sso_callback"
# The claim holding the user's groups or roles ("groups", "roles"; empty: roles are not read from
# the provider), and which of its values (value=role, role: recruiter, reviewer or staff) grant what.
PORTAL_OIDC_ROLES_CLAIM = envstr("PORTAL_OIDC_ROLES_CLAIM", "")
PORTAL_OIDC_ROLES_MAP: dict[str, set[str]] = {}
for _pair in envlist("PORTAL_OIDC_ROLES_MAP", ["recruiter=recruiter", "reviewer=reviewer", "staff=staff"]):
    _value, _, _role = _pair.rpartition("=")
    if not _value or _role not in ("recruiter", "reviewer", "staff"):
        raise ConfigError(f"PORTAL_OIDC_ROLES_MAP: {_pair!r} is not claim-value=recruiter|reviewer|staff.")
    PORTAL_OIDC_ROLES_MAP.setdefault(_value, set()).add(_role)
# Without a roles claim: the roles a user created at their first sign-in gets (recruiter, reviewer).
PORTAL_OIDC_DEFAULT_ROLES = envlist("PORTAL_OIDC_DEFAULT_ROLES", [])
if set(PORTAL_OIDC_DEFAULT_ROLES) - {"recruiter", "reviewer"}:
    raise ConfigError("PORTAL_OIDC_DEFAULT_ROLES lists recruiter and reviewer only.")
# Whether a first sign-in with no portal user to link creates one; else an administrator makes it first.
PORTAL_OIDC_CREATE_USERS = envbool("PORTAL_OIDC_CREATE_USERS", True)
# Email domains allowed to sign in (empty: any); the address must be verified.
PORTAL_OIDC_ALLOWED_DOMAINS = [domain.lower() for domain in envlist("PORTAL_OIDC_ALLOWED_DOMAINS", [])]
# For providers that send only addresses they verified but no email_verified claim (Microsoft Entra ID).
PORTAL_OIDC_EMAILS_VERIFIED = envbool("PORTAL_OIDC_EMAILS_VERIFIED", False)
# The provider enforces multi-factor sign-in for everyone: staff then skip the portal's own code.
# Otherwise only an ID token whose amr claim names a second factor counts as one.
PORTAL_OIDC_TRUST_MFA = envbool("PORTAL_OIDC_TRUST_MFA", False)
# false: only superusers sign in with a password (the login page and the admin's); everyone else uses SSO.
PORTAL_PASSWORD_SIGN_IN = envbool("PORTAL_PASSWORD_SIGN_IN", True)
if PORTAL_SSO:
    AUTHENTICATION_BACKENDS = [
        AUTHENTICATION_BACKENDS[0],
        "portal.accounts.sso.SsoBackend",
        *(AUTHENTICATION_BACKENDS[1:] if PORTAL_PASSWORD_SIGN_IN else ["portal.accounts.sso.SuperuserPasswordBackend"]),
    ]

# --- Greenhouse (portal/ats, docs/api.md) --------------------------------------
# Greenhouse's Assessment Partner API at /ats/greenhouse/. Its key is made with
# `manage.py greenhouse_key` and stored hashed; these settings say what Greenhouse may do with it.
# Assessments (slugs) Greenhouse may list and send; empty: every assessment with a loaded version.
PORTAL_GREENHOUSE_ASSESSMENTS = envlist("PORTAL_GREENHOUSE_ASSESSMENTS", [])
# The username recorded as the inviter of Greenhouse's invites (the invitation names them); empty: none.
PORTAL_GREENHOUSE_INVITER = envstr("PORTAL_GREENHOUSE_INVITER", "")
# An invite Greenhouse sends closes this many days later at 17:00 server time; time limit in hours (0: none).
PORTAL_GREENHOUSE_DEADLINE_DAYS = envint("PORTAL_GREENHOUSE_DEADLINE_DAYS", 7, minimum=1, maximum=365)
PORTAL_GREENHOUSE_TIME_LIMIT_HOURS = envint("PORTAL_GREENHOUSE_TIME_LIMIT_HOURS", 0, minimum=0, maximum=720)
# The completion report (a PATCH to the url Greenhouse gave in send_test) goes over https to these
# domains (and their subdomains) only; loopback over http too only when allowed (tests, development).
PORTAL_GREENHOUSE_CALLBACK_DOMAINS = [
    domain.lower() for domain in envlist("PORTAL_GREENHOUSE_CALLBACK_DOMAINS", ["greenhouse.io"])
]
PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK = envbool("PORTAL_GREENHOUSE_CALLBACK_ALLOW_LOOPBACK", False)
# Sent as the PATCH's Basic user name, as Greenhouse's example shows (the portal keeps only the
# hash of the key Greenhouse sends, so it cannot send that one back); empty: no Authorization.
PORTAL_GREENHOUSE_CALLBACK_KEY = envsecret("PORTAL_GREENHOUSE_CALLBACK_KEY", "")
PORTAL_GREENHOUSE_CALLBACK_TIMEOUT = envint("PORTAL_GREENHOUSE_CALLBACK_TIMEOUT", 15, minimum=1, maximum=120)
CELERY_BEAT_SCHEDULE["greenhouse-sweep"] = {"task": "ats.sweep", "schedule": 30.0}

# --- REST API (portal/api, docs/api.md) ---------------------------------------
# Requests per minute one token may make; more are answered 429 with Retry-After. Counted in the
# cache, so per web process with the default cache.
PORTAL_API_RATE = envint("PORTAL_API_RATE", 600, minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.TokenScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": f"{PORTAL_API_RATE}/min"},
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Assessment Portal API",
    "DESCRIPTION": "Invite candidates, follow their progress and read their results. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Choice sets shared by several fields get one name each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "portal.scoring.models.Run.Status",
        "ReviewStatusEnum": "portal.reviews.models.Review.Status",
        "InviteStatusEnum": "portal.invites.models.Invite.Status",
        "EmailStatusEnum": "portal.invites.models.Email.Status",
        "VisibleStateEnum": "portal.scoring.models.VISIBLE_STATES",
        "ResultStateEnum": "portal.api.serializers_results.STATES",
    },
    # Swagger UI from the drf-spectacular-sidecar wheel, served by the portal: never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- Logging ----------------------------------------------------------------
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# json: one object per line with the request id, invite, run and task of each record (docs/observability.md).
LOG_FORMAT = envchoice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "portal.core.logformat.JsonFormatter"},
    },
    # Link and password reset tokens travel in URLs: records write "[token]" instead (portal/core/redact.py).
    "filters": {
        "redact": {"()": "portal.core.redact.RedactFilter"},
        # git's first request of every clone and push is challenged (401): not logged as a warning.
        "git_challenge": {"()": "portal.hosting.logfilters.GitChallengeFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": envchoice("LOG_LEVEL", "INFO", _LOG_LEVELS)},
    # One line per request the grader makes to a candidate's app is noise, not news.
    # Failed and locked-out sign-ins are axes' warnings, kept whatever LOG_LEVEL; its INFO lines are chatter.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
# Filtered where their records start, so that every handler (the mail to ADMINS too) gets them clean.
LOGGING["loggers"] |= {
    "django.request": {"filters": ["redact", "git_challenge"]},
    "django.server": {"handlers": ["console"], "filters": ["redact"], "level": "INFO", "propagate": False},
}
# Error reports (the mail to ADMINS, the debug page): no tokens, no Authorization header, no cookies.
DEFAULT_EXCEPTION_REPORTER = "portal.core.redact.RedactingReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.core.redact.RedactingReporterFilter"
