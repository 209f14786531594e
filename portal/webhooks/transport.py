"""One POST of a webhook to a checked target: bounded in time and in what is read back.

Standard library only (http.client), for three things a general HTTP client makes awkward:

- it connects to an address the URL policy checked, never resolving the name again, while the
  request keeps the URL's host in its Host header and in TLS (SNI and certificate check);
- redirects are never followed: a 3xx is an answer like any other non-2xx (a redirect to an
  internal address would otherwise get around the policy);
- the whole attempt, connecting, sending, and reading the status line, headers and at most
  ``EXCERPT_BYTES`` of the body, ends within ``timeout`` seconds: a watchdog shuts the socket at the
  deadline, so a receiver that trickles its headers a byte at a time cannot hold a worker.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from portal.webhooks.urlpolicy import Target

EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the status code (None without an answer), the body's start, or why it failed."""

    status: int | None
    excerpt: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


class _Pinned:
    """Connects to the checked address instead of resolving ``host``; TLS still names ``host``."""

    address: str
    connect_timeout: float
    on_socket: object

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.connect_timeout)
        self.on_socket(sock)
        if isinstance(self, http.client.HTTPSConnection):
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    pass


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    pass


def post(target: Target, *, body: bytes, headers: dict[str, str], connect_timeout: float, timeout: float) -> Outcome:
    """POST ``body`` to ``target``, trying its checked addresses in turn; never raises for the network."""
    deadline = time.monotonic() + timeout
    last_error = ""
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        outcome = _post_to(
            address, target, body=body, headers=headers, connect_timeout=connect_timeout, timeout=remaining
        )
        if outcome.status is not None or not outcome.error.startswith("Could not connect"):
            return outcome
        last_error = outcome.error
    return Outcome(status=None, error=last_error or f"No answer within {timeout:g} s.")


def _post_to(
    address: str, target: Target, *, body: bytes, headers: dict[str, str], connect_timeout: float, timeout: float
) -> Outcome:
    cls = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    kwargs = {"context": ssl.create_default_context()} if target.scheme == "https" else {}
    connection = cls(target.host, target.port, timeout=min(timeout, connect_timeout), **kwargs)
    connection.address = address
    connection.connect_timeout = min(timeout, connect_timeout)
    expired = threading.Event()
    sockets: list[socket.socket] = []

    def watch(sock: socket.socket) -> None:
        sockets.append(sock)
        sock.settimeout(timeout)

    def cut() -> None:
        expired.set()
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    connection.on_socket = watch
    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    stage = "connect"
    try:
        connection.connect()
        stage = "send"
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        stage = "read"
        excerpt = response.read(EXCERPT_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            return Outcome(status=None, error=f"No complete answer within {timeout:.0f} s ({_stage_words(stage)}).")
        if stage == "connect":
            return Outcome(status=None, error=f"Could not connect to {address} port {target.port}: {_reason(exc)}")
        return Outcome(status=None, error=f"The connection failed while {_stage_words(stage)}: {_reason(exc)}")
    finally:
        watchdog.cancel()
        connection.close()
    text = excerpt.decode("utf-8", errors="replace").replace("\x00", "")
    if 300 <= status < 400:
        location = (response.getheader("Location") or "")[:200]
        return Outcome(
            status=status,
            excerpt=text,
            error=f"Answered {status} (a redirect to {location or 'nowhere'}, not followed).",
        )
    return Outcome(status=status, excerpt=text)


def _stage_words(stage: str) -> str:
    return {"connect": "connecting", "send": "sending or waiting for the answer", "read": "reading the answer"}[stage]


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
