"""A real HTTP receiver on loopback for webhook tests, and endpoints that point at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.webhooks.services import endpoint_create


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (the last one repeats): a status code, or one of
    "redirect", "hang" (no answer for 30 s), "huge" (a 200 with an endless body)."""

    url: str
    answers: list = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def next_answer(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            me = holder["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            me.received.append(Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body))
            answer = me.next_answer()
            if answer == "hang":
                me.stop.wait(30)
                return
            if answer == "redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if answer == "huge":
                self.send_response(200)
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    while not me.stop.is_set():
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            text = f"answer {answer}".encode()
            self.send_response(answer)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["receiver"]
    finally:
        holder["receiver"].stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def allow_private(settings):
    """Receivers on loopback are allowed, as an operator would for receivers on the portal's own network."""
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    return settings


@pytest.fixture
def endpoint(db, allow_private, receiver, admin_user):
    """An active endpoint at the receiver, subscribed to every event type."""
    from portal.webhooks.models import EVENT_TYPE_NAMES

    return endpoint_create(url=receiver.url, event_types=EVENT_TYPE_NAMES, description="Test receiver", by=admin_user)


def wait_until(probe, *, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)
    return value
