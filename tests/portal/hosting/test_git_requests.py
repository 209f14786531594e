"""Raw HTTP requests at the git endpoint: the wrong ones are refused and nothing is left running."""

import base64
import http.client
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest

from portal.hosting.models import AuthFailure
from portal.hosting.receive import pkt
from tests.support.processes import descendants, name, running
from tests.support.workers import wait_for

# The portal runs in another process: the invite (conftest's `created`) must be committed for it.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _request(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_no_credentials_gets_401_with_a_basic_challenge(portal_server, created):
    status, headers, _ = _request(
        portal_server, "GET", f"/git/{created.invite.public_id}.git/info/refs?service=git-upload-pack"
    )
    assert status == 401
    assert headers["WWW-Authenticate"].startswith('Basic realm="Assessment Portal"')
    assert AuthFailure.objects.count() == 0  # asking is not failing


def test_the_challenge_is_not_logged_as_a_warning_but_a_wrong_password_is(portal_server, created):
    # Every clone and push begins with the challenge: one warning each would drown the log.
    path = f"/git/{created.invite.public_id}.git/info/refs?service=git-upload-pack"
    line = f"Unauthorized: /git/{created.invite.public_id}.git/info/refs"
    wrong = _auth(created.invite.public_id, "wrong")
    assert _request(portal_server, "GET", path, wrong)[0] == 401
    wait_for(lambda: line in portal_server.log(), timeout=10, what="the wrong password's warning")
    once = portal_server.log().count(line)  # one record, written by each handler
    # Each response is sent after its record is written: the challenge's would be in before the
    # second wrong password's.
    assert _request(portal_server, "GET", path)[0] == 401
    assert _request(portal_server, "GET", path, wrong)[0] == 401
    wait_for(lambda: portal_server.log().count(line) >= 2 * once, timeout=10, what="the second warning")
    assert portal_server.log().count(line) == 2 * once


def test_the_advertisement_is_served_uncached_to_the_right_credentials(portal_server, created):
    public_id = created.invite.public_id
    status, headers, body = _request(
        portal_server,
        "GET",
        f"/git/{public_id}.git/info/refs?service=git-upload-pack",
        _auth(public_id, created.git_token),
    )
    assert status == 200
    assert headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert "no-store" in headers["Cache-Control"]
    assert b"refs/heads/main" in body


@pytest.mark.parametrize(
    "path",
    [
        "/git/{id}.git/HEAD",
        "/git/{id}.git/objects/info/packs",
        "/git/{id}.git/config",
        "/git/{id}.git/info/refs",  # dumb protocol: no ?service=
        "/git/{id}.git/info/refs?service=git-upload-archive",
        "/git/{id}.git/../../../etc/passwd",
        "/git/{id}.git/%2e%2e/%2e%2e/etc/passwd",
        "/git/..%2f..%2fetc.git/info/refs?service=git-upload-pack",
        "/git/%2e%2e.git/info/refs?service=git-upload-pack",
    ],
)
def test_dumb_protocol_and_traversal_paths_are_refused(portal_server, created, path):
    public_id = created.invite.public_id
    status, _, body = _request(portal_server, "GET", path.format(id=public_id), _auth(public_id, created.git_token))
    assert status == 404
    assert b"root:" not in body and b"[core]" not in body


def test_a_get_to_a_service_endpoint_is_refused(portal_server, created):
    public_id = created.invite.public_id
    status, _, _ = _request(
        portal_server, "GET", f"/git/{public_id}.git/git-receive-pack", _auth(public_id, created.git_token)
    )
    assert status == 404


def test_repeated_failures_slow_down_the_pair_but_never_the_right_password(portal_server, created, settings):
    public_id = created.invite.public_id
    path = f"/git/{public_id}.git/info/refs?service=git-upload-pack"
    # The server reads the limit from its own settings: the default, 10 per (address, invite).
    statuses = [_request(portal_server, "GET", path, _auth(public_id, f"guess-{n}"))[0] for n in range(11)]
    assert statuses == [401] * 10 + [429]
    status, headers, _ = _request(portal_server, "GET", path, _auth(public_id, "guess-11"))
    assert status == 429
    assert int(headers["Retry-After"]) > 0
    # The right password is checked first and gets in all the same.
    assert _request(portal_server, "GET", path, _auth(public_id, created.git_token))[0] == 200


def _git(pid: int) -> bool:
    return running(pid) and name(pid).startswith("git")


def _backends(server) -> set[int]:
    """The git processes this test's portal server started (under its gunicorn workers), and
    only those: other git processes on the machine, such as another test run's, do not count."""
    return {pid for pid in descendants(server.process.pid) if _git(pid)}


def _left_running_after(server, sock: socket.socket) -> set[int]:
    """Wait until the request has started its backend, close the client's socket, then give the
    server up to 20 s to stop it; return what still runs of it (nothing, when all is well)."""
    started = wait_for(lambda: _backends(server), timeout=10, what="git http-backend to start")
    sock.close()
    deadline = time.monotonic() + 20
    while (left := _backends(server) | {pid for pid in started if _git(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_a_client_that_aborts_mid_upload_leaves_no_process_running(portal_server, created):
    public_id = created.invite.public_id
    parts = urlsplit(portal_server.url)
    head = (
        f"POST /git/{public_id}.git/git-receive-pack HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: {_auth(public_id, created.git_token)['Authorization']}\r\n"
        "Content-Type: application/x-git-receive-pack-request\r\n"
        "Content-Length: 1000000\r\n\r\n"
    )
    # A push's start, as git sends it: a command, then the pack, of which only the start arrives.
    command = f"{'0' * 40} {'1' * 40} refs/heads/aborted\0report-status side-band-64k\n".encode()
    start = pkt(command) + b"0000" + struct.pack(">4sII", b"PACK", 2, 1) + b"\0" * 4096
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + start)
        # The client goes away with most of its body unsent.
        assert _left_running_after(portal_server, sock) == set()


def test_a_truncated_chunked_body_leaves_no_process_running(portal_server, created):
    public_id = created.invite.public_id
    parts = urlsplit(portal_server.url)
    head = (
        f"POST /git/{public_id}.git/git-upload-pack HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: {_auth(public_id, created.git_token)['Authorization']}\r\n"
        "Content-Type: application/x-git-upload-pack-request\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        # A chunk announcing a 0x32-byte pkt-line, of which only the start arrives before the
        # connection closes: the body ends in the middle of a chunk.
        sock.sendall(head.encode() + b"32\r\n0032want 0000000")
        assert _left_running_after(portal_server, sock) == set()
