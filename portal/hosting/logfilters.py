"""Log filters for the git endpoint."""

from __future__ import annotations

import logging


class GitChallengeFilter(logging.Filter):
    """Drop Django's "Unauthorized" warning for a git request that sent no credentials.

    git asks without credentials first and sends them once challenged, so every clone, fetch and
    push begins with a 401: the protocol, not news. A 401 to credentials that were sent (a wrong
    password) is still logged, as is every other status.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if getattr(record, "status_code", None) != 401 or request is None:
            return True
        path = getattr(request, "path", "")
        meta = getattr(request, "META", {})
        return not (path.startswith("/git/") and "HTTP_AUTHORIZATION" not in meta)
