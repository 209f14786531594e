"""Start the web server: `python -m portal.serve` (the Procfile, the image, compose, the systemd unit).

gunicorn reads WEB_CONCURRENCY with a bare int() while it is imported, before it loads any
config file, so a bad value would end in a traceback. Running portal/gunicorn.conf.py first
turns every bad setting into one line naming the variable; then gunicorn replaces this process.

gunicorn runs none of Django's system checks either, so it would serve pages signed with the
placeholder SECRET_KEY that `migrate` and `check` refuse (portal.E001). The settings are
loaded here for that one decision, and for a warning when production is served over plain http.
"""

import os
import runpy
import shutil
import sys
from pathlib import Path

from django.conf import settings

from portal.core.checks import secret_key_error
from portal.env import ConfigError, load_env_file

CONFIG = Path(__file__).with_name("gunicorn.conf.py")


def main() -> None:
    try:
        load_env_file()  # .env, as manage.py reads it; gunicorn, exec'd below, inherits the environment
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    runpy.run_path(str(CONFIG))  # exits with "Configuration error: ..." on a bad value
    check_settings()
    beside = Path(sys.executable).with_name("gunicorn")
    gunicorn = str(beside) if beside.exists() else shutil.which("gunicorn")
    if gunicorn is None:
        sys.exit("gunicorn is not installed next to this Python or on PATH: pip install -r requirements.txt")
    os.execv(gunicorn, [gunicorn, "portal.wsgi", "--config", str(CONFIG), *sys.argv[1:]])  # noqa: S606 - no shell wanted


def announce() -> None:
    """Print where the portal is about to listen and where to sign in: what `make run` says first.

    Read as the server reads them: the .env file, then gunicorn's bind from its config file, and
    PORTAL_BASE_URL (whose default follows the bind) from the settings.
    """
    try:
        load_env_file()
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    bind = runpy.run_path(str(CONFIG))["bind"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    try:
        base_url = settings.PORTAL_BASE_URL
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    address = bind if bind.startswith("unix:") else f"http://{bind}"
    print(f"Starting the portal on {address} (web + worker); Ctrl-C stops both.")
    print(f"Sign in at {base_url}/accounts/login/")


def check_settings() -> None:
    """Exit with one line if the portal.E001 check refuses the settings; warn about plain http."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    try:
        debug = settings.DEBUG
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    error = secret_key_error()
    if error is not None:
        sys.exit(f"Configuration error: {error.msg} {error.hint}")
    if not debug and not settings.PORTAL_HTTPS:
        print(
            f"Warning: PORTAL_BASE_URL is {settings.PORTAL_BASE_URL}, plain http with DEBUG off: session cookies "
            "are not marked Secure and passwords cross the network in clear. Serve the portal through a "
            "TLS-terminating proxy (deploy/nginx.conf) and set PORTAL_BASE_URL to its https:// address.",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
