"""Middleware for the portal behind a TLS-terminating reverse proxy (deploy/nginx.conf), and the
idle timeout on every request's connection.

Two kinds of traffic reach gunicorn. Public traffic comes through the proxy: over HTTPS for the
client, with the proxy's address as the peer. Internal traffic does not: the container's health
check on 127.0.0.1 and scoring workers at PORTAL_INTERNAL_URL speak plain HTTP to gunicorn
directly, inside the host or the container network, and cannot follow a redirect to an https://
address that nothing serves.
"""

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost, MiddlewareNotUsed
from django.http import HttpResponsePermanentRedirect
from django.http.request import split_domain_port


def forwarded_client(header: str, proxies: int) -> str | None:
    """The client's address in an X-Forwarded-For value that ``proxies`` trusted proxies appended to.

    Each proxy appends the address it received the request from, so the Nth entry from the right
    is the address the outermost trusted proxy saw. Entries further left came with the request
    and anyone can write them, so they are never chosen, nor even read. None when the header has
    fewer than N entries or one of the last N is not an IP address.
    """
    entries = [entry.strip() for entry in header.split(",")]
    if proxies < 1 or len(entries) < proxies:
        return None
    try:
        appended = [ipaddress.ip_address(entry) for entry in entries[-proxies:]]
    except ValueError:
        return None
    return str(appended[0])


class ClientAddressMiddleware:
    """Put the client's address in REMOTE_ADDR behind PORTAL_TRUSTED_PROXIES proxies.

    Behind a proxy every request's REMOTE_ADDR is the proxy's, which would make the git sign-in
    rate limit one shared bucket and record every push as coming from the proxy. First in
    MIDDLEWARE, so that everything after it (and gunicorn's access log) sees the client.
    Requests without the header, such as health checks and workers on the internal URL, keep
    their own REMOTE_ADDR. Not loaded at all with the default of 0 proxies.
    """

    def __init__(self, get_response):
        self.proxies = settings.PORTAL_TRUSTED_PROXIES
        if self.proxies < 1:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        client = forwarded_client(request.META.get("HTTP_X_FORWARDED_FOR", ""), self.proxies)
        if client is not None:
            request.META["REMOTE_ADDR"] = client
        return self.get_response(request)


# What internal clients ask for over plain http, besides /healthz: scoring workers fetch commits
# from /git/ and packages from /internal/, Prometheus reads /metrics. settings.SECURE_REDIRECT_EXEMPT
# lists the same paths; like Django, they are matched without the leading slashes.
INTERNAL_PATHS = ("git/", "internal/", "metrics")


def is_internal(request) -> bool:
    """Whether the request came to a loopback name or address, or to the host of PORTAL_INTERNAL_URL.

    A Host that ALLOWED_HOSTS refuses is never internal (Django answers it with 400 anyway).
    """
    try:
        host = request.get_host()
    except DisallowedHost:
        return False
    domain = split_domain_port(host)[0].strip("[]")
    internal_url = settings.PORTAL_INTERNAL_URL
    if domain == "localhost" or (internal_url and domain == urlsplit(internal_url).hostname):
        return True
    try:
        return ipaddress.ip_address(domain).is_loopback
    except ValueError:
        return False


class PublicHttpsRedirectMiddleware:
    """SECURE_SSL_REDIRECT for public requests on INTERNAL_PATHS; internal ones stay on plain http.

    Django's SecurityMiddleware can exempt requests from its redirect by path only, and its deploy
    checks (`check --deploy`: HSTS, the redirect, the headers) find it by its dotted path only, so it
    stays installed unchanged and exempts these paths for everyone. This middleware, just before
    it, redirects them again unless the request is internal by Host, as Django would have.
    """

    def __init__(self, get_response):
        if not settings.SECURE_SSL_REDIRECT:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        path = request.path.lstrip("/")
        if path.startswith(INTERNAL_PATHS) and not request.is_secure() and not is_internal(request):
            host = settings.SECURE_SSL_HOST or request.get_host()
            return HttpResponsePermanentRedirect(f"https://{host}{request.get_full_path()}")
        return self.get_response(request)


class SlowClientMiddleware:
    """Give up on a client that stops sending or receiving for PORTAL_REQUEST_IDLE_TIMEOUT seconds,
    and on the rest of a body the portal refused.

    gunicorn waits for a request's headers without holding a thread, but reads its body, and
    writes the answer, with a blocking socket and no timeout: a client that announces a body and
    never sends it (or stops reading a clone) would hold a thread until it hangs up. With the
    timeout on the socket, such a read or write fails after that long without a byte; Django
    answers an unreadable form with 400 and the git view stops git. gunicorn puts the socket back
    to blocking for the next request on the connection, so this is set on every request.

    An error answer to a request that announced a body (a git push refused with 401, 429 or 503,
    say) closes the connection's reading side: otherwise gunicorn would keep the thread for up to
    5 s waiting for the body nobody will read, and a client opening many such requests would
    hold every thread. Other servers (the test client, runserver) have no such socket: nothing
    changes there.
    """

    def __init__(self, get_response):
        self.timeout = settings.PORTAL_REQUEST_IDLE_TIMEOUT
        self.get_response = get_response

    def __call__(self, request):
        connection = request.META.get("gunicorn.socket")
        if connection is not None:
            connection.settimeout(self.timeout)
        response = self.get_response(request)
        if connection is not None and response.status_code >= 400 and _announces_body(request):
            with contextlib.suppress(OSError):  # the client may be gone already
                connection.shutdown(socket.SHUT_RD)
        return response


def _announces_body(request) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or length != "0"
