"""System checks for misconfiguration that Django's own checks do not catch."""

import hashlib
import hmac
import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from gitplumbing.ownership import nearest_existing
from portal.core.workers import TOKEN_FILE, has_worker_credential

# Shorter than this, a worker token set by hand can be guessed (the generated one has 43).
WORKER_TOKEN_MIN_LENGTH = 32


def secret_key_error() -> Error | None:
    """The portal.E001 decision, shared by the system check and by `python -m portal.serve`
    (gunicorn runs no system checks, so without the latter it would serve with the placeholder).

    An empty SECRET_KEY counts as unset in portal/env.py, so it is the placeholder here too.
    """
    if settings.DEBUG or settings.SECRET_KEY != settings.PLACEHOLDER_SECRET_KEY:
        return None
    return Error(
        "SECRET_KEY is the built-in placeholder while DEBUG is off.",
        hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, for example the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
        id="portal.E001",
    )


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs):
    error = secret_key_error()
    return [] if error is None else [error]


@register()
def check_data_dir(app_configs, **kwargs):
    data_dir = settings.PORTAL_DATA_DIR
    if data_dir is None:  # a scoring worker of another host: it fetches what it scores
        return []
    # The directory is created on first use, so the nearest existing ancestor must be writable.
    probe = nearest_existing(data_dir)
    if not (probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)):
        return [
            Error(
                f"PORTAL_DATA_DIR {data_dir} is not writable (repositories, bundles and snapshots live there).",
                hint="Create the directory and give the user running the portal write access to it.",
                id="portal.E002",
            )
        ]
    owner = probe.stat().st_uid
    if os.geteuid() not in (0, owner):
        # Files this process wrote would belong to the wrong user and break the web server's pushes.
        return [
            Error(
                f"PORTAL_DATA_DIR {data_dir} belongs to uid {owner}, but this process runs as uid {os.geteuid()}.",
                hint=f"The data directory has one owner: run the portal's processes as uid {owner} "
                "(root works too: it writes as the owner), or give the directory to this user.",
                id="portal.E003",
            )
        ]
    return []


def placeholder_worker_token() -> str:
    """What the worker token used to be on a portal left unconfigured: derived from the placeholder
    SECRET_KEY that is in the source, so anyone could compute it."""
    return hmac.new(settings.PLACEHOLDER_SECRET_KEY.encode(), b"portal worker git token", hashlib.sha256).hexdigest()


@register(Tags.security)
def check_worker_credential(app_configs, **kwargs):
    """portal.E004: a public worker token; portal.W004: a short one; portal.W005: none at all."""
    token = settings.PORTAL_WORKER_GIT_TOKEN
    if token and hmac.compare_digest(token.encode(), placeholder_worker_token().encode()):
        return [
            Error(
                "PORTAL_WORKER_GIT_TOKEN is the value older versions derived from the placeholder SECRET_KEY: "
                "anyone can compute it and read every repository as the worker.",
                hint=f"Unset it on the web server (the portal then keeps a random token in <data directory>/"
                f"{TOKEN_FILE}), or set a long random value; give workers of other hosts the same one.",
                id="portal.E004",
            )
        ]
    if token and len(token) < WORKER_TOKEN_MIN_LENGTH:
        return [
            Warning(
                f"PORTAL_WORKER_GIT_TOKEN has {len(token)} characters: a short token can be guessed, and it "
                "reads every repository.",
                hint="Use at least 32 random characters, for example the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                id="portal.W004",
            )
        ]
    if not has_worker_credential():
        return [
            Warning(
                "This host has no worker credential (no data directory, and PORTAL_WORKER_GIT_TOKEN is not "
                "set): a scoring worker here cannot fetch what it scores, and will not start.",
                hint=f"Set PORTAL_WORKER_GIT_TOKEN to the web server's token: its PORTAL_WORKER_GIT_TOKEN, or "
                f"else the content of <data directory>/{TOKEN_FILE}.",
                id="portal.W005",
            )
        ]
    return []


@register()
def check_git_requests(app_configs, **kwargs):
    """portal.W006: git requests may take every web thread, so pages and /healthz could wait."""
    if settings.PORTAL_GIT_MAX_REQUESTS < settings.WEB_THREADS:
        return []
    return [
        Warning(
            f"PORTAL_GIT_MAX_REQUESTS ({settings.PORTAL_GIT_MAX_REQUESTS}) is not below WEB_THREADS "
            f"({settings.WEB_THREADS}): git transfers can take every thread of a web process, and pages and "
            "the health check then wait until one ends.",
            hint="Leave PORTAL_GIT_MAX_REQUESTS unset (it is WEB_THREADS - 4), or set it below WEB_THREADS.",
            id="portal.W006",
        )
    ]


# Settings earlier releases read and this one does not: an operator who still sets one is told.
RETIRED_SETTINGS = {
    "PORTAL_GIT_AUTH_MAX_PER_INVITE": "failures are limited per address and invite together "
    "(PORTAL_GIT_AUTH_MAX_PER_PAIR), so that strangers cannot lock a candidate out",
}


@register()
def check_retired_settings(app_configs, **kwargs):
    """portal.W007: a variable that no longer does anything is set."""
    return [
        Warning(
            f"{name} is set but no longer read: {why}.",
            hint=f"Remove {name} from the environment.",
            id="portal.W007",
        )
        for name, why in RETIRED_SETTINGS.items()
        if name in os.environ
    ]


@register()
def check_hooks(app_configs, **kwargs):
    """portal.E005: a hook the portal cannot work without has no receiver (an app is missing)."""
    from portal.core.hooks import HOOKS

    return [
        Error(
            f"Hook {hook.name} has no receiver: {hook.doc}.",
            hint="Every app in portal.settings.INSTALLED_APPS must be installed; see docs/architecture.md, Hooks.",
            id="portal.E005",
        )
        for hook in HOOKS.values()
        if hook.required and not hook.receivers
    ]
