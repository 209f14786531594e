"""Fuzzing the API against its own schema with schemathesis, in the test's process and transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

# No 500, and every answer (its status and its body) one the schema documents.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@contextmanager
def portal_wsgi_app() -> Iterator:
    """The portal's WSGI application on this test's database connection: as Django's test client
    does, a request's end must not close the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def served_schema(app, request):
    """The schema the portal serves at /api/schema/, loaded for ``app``."""
    # schemathesis 4.32 reads the test's node id from an attribute pytest 9 no longer has; it only
    # writes the operation into it for its reports, so it is given the node id pytest has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
