"""gunicorn settings shared by `make run` and the production container.

Threads, not just processes: git clones and pushes hold a request open for as
long as the transfer lasts, and must not block every other page.

Every value is read through portal/env.py, so a malformed one stops start-up with
one line naming the variable. gunicorn itself reads WEB_CONCURRENCY with a bare
int() when it is imported, before this file: the Procfile therefore runs this file
on its own first (runpy), and starts gunicorn only if it passes.
"""

import sys

from portal.env import DEFAULT_BIND, ConfigError, envaddress, envint

try:
    bind = envaddress("PORTAL_BIND", DEFAULT_BIND)
    workers = envint("WEB_CONCURRENCY", 2, minimum=1)
    threads = envint("WEB_THREADS", 16, minimum=1)
    # Longer than a large clone or push over a slow link.
    timeout = envint("WEB_TIMEOUT", 600, minimum=1)
except ConfigError as exc:
    # SystemExit passes through gunicorn's config loader, which prints a traceback for anything else.
    sys.exit(f"Configuration error: {exc}")
graceful_timeout = 30
accesslog = "-"
# Link and password reset tokens travel in URLs: the access and error logs write "[token]" instead.
logger_class = "portal.logging_redact.GunicornLogger"
# gunicorn 27 opens a control socket by default; the portal has no use for it.
control_socket_disable = True
