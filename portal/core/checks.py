"""System checks for misconfiguration that Django's own checks do not catch."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, register

from gitplumbing.ownership import nearest_existing


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
