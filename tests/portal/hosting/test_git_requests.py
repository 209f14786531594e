"""Raw HTTP requests at the git endpoint: the wrong ones are refused and nothing is left running."""

import base64
import http.client
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from portal.hosting.models import AuthFailure
from portal.invites.services import candidate_get_or_create, invite_create

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def created(transactional_db, assessment_version):
    candidate = candidate_get_or_create(name="Ann Example", email="ann@example.com")
    return invite_create(candidate=candidate, assessment_version=assessment_version)


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


def test_repeated_failures_are_rate_limited_per_address(portal_server, created, settings):
    public_id = created.invite.public_id
    path = f"/git/{public_id}.git/info/refs?service=git-upload-pack"
    # The server reads the limit from its own settings: the default, 20 per address.
    statuses = [_request(portal_server, "GET", path, _auth(public_id, f"guess-{n}"))[0] for n in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    # Even the right password is refused while the address is blocked.
    status, headers, _ = _request(portal_server, "GET", path, _auth(public_id, created.git_token))
    assert status == 429
    assert int(headers["Retry-After"]) > 0


def _backends() -> list[str]:
    result = subprocess.run(["pgrep", "-f", "git http-backend"], capture_output=True, text=True)
    return result.stdout.split()


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
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + b"0" * 4096)
        deadline = time.monotonic() + 10
        while not _backends() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _backends(), "the backend should have started"
    # The client is gone with most of its body unsent.
    deadline = time.monotonic() + 20
    while _backends() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _backends() == []


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
        sock.sendall(head.encode() + b"10\r\n0032want 00000000\r\n")
    deadline = time.monotonic() + 20
    while _backends() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _backends() == []
