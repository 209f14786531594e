"""Which URLs may receive webhooks: the portal must not become a way to reach its own network.

Whoever configures an endpoint picks a URL the portal's workers will POST to. Left unchecked, that
is a server-side request forgery: the cloud's metadata service (169.254.169.254), the database,
Redis, the portal's own admin. So a URL is checked when it is saved and again before every
attempt (a name may resolve elsewhere by then):

- http or https only, and no user name or password in it (they would be sent to whoever answers);
- not the portal's own host;
- every address the host resolves to is public: no loopback, private range, link-local, multicast,
  reserved or unspecified address, IPv4-mapped IPv6 included.

The attempt then connects to an address checked here (``Target.addresses``) rather than looking
the name up again, so a name that answers a public address to the check and 127.0.0.1 to the
connection (DNS rebinding) gains nothing. ``PORTAL_WEBHOOKS_ALLOW_PRIVATE`` lifts the address and
own-host rules for an install whose receivers live on its own network;
``PORTAL_WEBHOOKS_ALLOWED_HOSTS`` lifts them for the hosts it names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2000


class UrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why in a sentence."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``) and what to ask for there."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def url_check(url: str) -> Target:
    """The URL's target once every rule holds, its host resolved; else UrlRefused with the reason."""
    url = (url or "").strip()
    if not url:
        raise UrlRefused("Give the URL that should receive the webhooks.")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UrlRefused("The URL cannot contain spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("The URL cannot carry a user name or password: check the signature of each webhook instead.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("The URL has no host name.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("The URL's port is not a number between 1 and 65535.") from None
    if port == 0:
        raise UrlRefused("The URL's port is not a number between 1 and 65535.")
    allowed = settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE or host.lower() in settings.PORTAL_WEBHOOKS_ALLOWED_HOSTS
    if not allowed and host.lower() in _own_hosts():
        raise UrlRefused(f"{host} is the portal's own host: webhooks go to other systems.")
    addresses = _resolve(host, port)
    if not allowed:
        for address in addresses:
            kind = _not_public(address)
            if kind:
                shown = host if host == address else f"{host} resolves to {address}, which"
                raise UrlRefused(
                    f"{shown} is {kind} address: webhooks go only to public addresses "
                    "unless the operator allows private ones (PORTAL_WEBHOOKS_ALLOW_PRIVATE)."
                )
        own = sorted(address for address in addresses if _canonical(address) in _own_addresses())
        if own:
            shown = host if host == own[0] else f"{host} resolves to {own[0]}, which"
            raise UrlRefused(f"{shown} is the portal's own address: webhooks go to other systems.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)


def _own_hosts() -> set[str]:
    hosts = {urlsplit(url).hostname for url in (settings.PORTAL_BASE_URL, settings.PORTAL_INTERNAL_URL) if url}
    return {host.lower().rstrip(".") for host in hosts if host}


def _own_addresses() -> set[str]:
    """The addresses the portal's own names resolve to here (none for a name that does not resolve)."""
    addresses: set[str] = set()
    for host in _own_hosts():
        with contextlib.suppress(UrlRefused):
            addresses.update(_canonical(address) for address in _resolve(host, 443))
    return addresses


def _canonical(address: str) -> str:
    """One spelling per address: an IPv4-mapped IPv6 address as its IPv4 address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UrlRefused(f"The host {host} could not be found.") from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) names no other address
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(f"The host {host} could not be found.")
    return tuple(addresses)


def _not_public(address: str) -> str:
    """'a loopback' (or the like) when the address is not a public one; '' when it is."""
    ip = ipaddress.ip_address(_canonical(address))
    checks = (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    )
    for attribute, words in checks:
        if getattr(ip, attribute):
            return words
    return "" if ip.is_global else "a non-public"
