"""Greenhouse's side of the Assessment Partner API: its calls, recorded, played against a running
portal over real HTTP; and a real HTTP server on loopback where the completion report (PATCH) lands.

The calls are as Greenhouse documents them (developers.greenhouse.io/assessment.html): HTTP Basic
with the key as the user name and a blank password ("key:" in Base64), JSON bodies, test_status's
one query parameter. ``{name}`` in a recorded path or body is filled in when the call is played.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template

import httpx


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str  # relative to the partner's base URL, e.g. "/ats/greenhouse/"
    headers: dict[str, str]
    body: dict | None = None


_HEADERS = {"Accept": "application/json", "User-Agent": "Greenhouse"}
CALLS: dict[str, RecordedCall] = {
    "list_tests": RecordedCall("GET", "list_tests", _HEADERS),
    "send_test": RecordedCall(
        "POST",
        "send_test",
        {**_HEADERS, "Content-Type": "application/json"},
        {
            "partner_test_id": "$test_id",
            "candidate": {
                "first_name": "$first_name",
                "last_name": "$last_name",
                "resume_url": "https://app.greenhouse.io/resumes/17681532",
                "phone_number": "123-456-7890",
                "email": "$email",
                "greenhouse_profile_url": "https://app.greenhouse.io/people/17681532?application_id=26234709",
            },
            "url": "$url",
        },
    ),
    "test_status": RecordedCall("GET", "test_status?partner_interview_id=$partner_interview_id", _HEADERS),
}


def _fill(value, values: dict[str, str]):
    if isinstance(value, str):
        return Template(value).substitute(values) if "$" in value else value
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def prepared(name: str, *, key: str, **values: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """The recorded call ``name`` as Greenhouse would send it with ``key``: (method, path, headers, body)."""
    call = CALLS[name]
    credentials = base64.b64encode(f"{key}:".encode()).decode()
    headers = {**call.headers, "Authorization": f"Basic {credentials}"}
    body = json.dumps(_fill(call.body, values)).encode() if call.body is not None else None
    return call.method, _fill(call.path, values), headers, body


@dataclass
class GreenhouseClient:
    """Plays Greenhouse's recorded calls over HTTP against ``base_url`` (the partner's /ats/greenhouse/)."""

    base_url: str
    key: str

    def play(self, name: str, *, key: str | None = None, **values: str) -> httpx.Response:
        method, path, headers, body = prepared(name, key=self.key if key is None else key, **values)
        url = self.base_url.rstrip("/") + "/" + path
        return httpx.request(method, url, headers=headers, content=body, timeout=30)


def play_in(client, name: str, *, key: str, base: str = "/ats/greenhouse/", **values: str):
    """The same call through Django's test client (inside a test's transaction); ``client`` is a
    django.test.Client. Extra keywords of the client (secure=, REMOTE_ADDR=) go in ``values`` as
    ``extra``."""
    extra = values.pop("extra", {})
    method, path, headers, body = prepared(name, key=key, **values)
    return client.generic(
        method,
        base + path,
        data=body or b"",
        content_type=headers.get("Content-Type", ""),
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
        **extra,
    )


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """Greenhouse's end of the PATCH: records every request, answers from ``statuses`` in turn (200 after)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A real HTTP server on a free loopback port; ``url`` is a take-home test's callback URL on it."""
    state = Receiver(statuses=list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append(Received(self.command, self.path, dict(self.headers), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/integrations/testing_partners/take_home_tests/12345"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
