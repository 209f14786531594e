"""gunicorn settings shared by `make run` and the production container.

Threads, not just processes: git clones and pushes hold a request open for as
long as the transfer lasts, and must not block every other page.
"""

import os

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# Longer than a large clone or push over a slow link.
timeout = int(os.environ.get("WEB_TIMEOUT", "600"))
graceful_timeout = 30
accesslog = "-"
# gunicorn 27 opens a control socket by default; the portal has no use for it.
control_socket_disable = True
