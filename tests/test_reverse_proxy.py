"""The portal behind nginx with deploy/nginx.conf, as production runs it.

gunicorn runs with the documented production .env (DEBUG off, a random SECRET_KEY, an https
PORTAL_BASE_URL, TRUST_X_FORWARDED_PROTO and one trusted proxy); nginx terminates TLS on loopback
with a self-signed certificate. Public traffic goes through nginx; the health check and internal
requests go to gunicorn directly over plain http, as the compose health check and scoring workers
at PORTAL_INTERNAL_URL do.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from portal.accounts.models import User
from portal.hosting.models import Push
from portal.invites.models import Event
from tests.support.git import GitClient, remote_url
from tests.support.processes import stop_group
from tests.support.server import PortalServer, running_portal
from tests.support.workers import ROOT, database_url, free_port, wait_for

# The portal runs in another process: rows must be committed for it to see them.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), pytest.mark.django_db(transaction=True)]

SERVER_NAME = "portal.test"  # the host of PORTAL_BASE_URL; resolved to 127.0.0.1 by hand below
INTERNAL_HOST = "portal-internal"  # the host of PORTAL_INTERNAL_URL
PASSWORD = "a long and unguessable passphrase"


@dataclass
class Proxied:
    portal: PortalServer  # gunicorn itself, reached directly over plain http
    https_port: int
    http_port: int
    certificate: Path
    nginx_errors: Path  # nginx's error log, warnings included

    @property
    def public_url(self) -> str:
        return f"https://{SERVER_NAME}:{self.https_port}"

    @property
    def gunicorn_port(self) -> int:
        return int(self.portal.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def proxied(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Proxied]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail("nginx is not installed: `make setup-dev` installs it (Debian package nginx).")
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    tmp = tmp_path_factory.mktemp("proxy")
    certificate = _self_signed_certificate(tmp)
    https_port, http_port = _two_free_ports()
    env = {
        # The portal's own settings, not the suite's (which the environment names otherwise).
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_BASE_URL": f"https://{SERVER_NAME}:{https_port}",
        "TRUST_X_FORWARDED_PROTO": "true",
        "PORTAL_TRUSTED_PROXIES": "1",
        "PORTAL_INTERNAL_URL": f"http://{INTERNAL_HOST}:8000",
        # Defaults, whatever the environment running the tests says.
        "ALLOWED_HOSTS": "",
        "CSRF_TRUSTED_ORIGINS": "",
        "SECURE_SSL_REDIRECT": "",
        # Its own var/ for the collected static files that DEBUG off serves from.
        "PORTAL_VAR_DIR": str(tmp / "var"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": db_url},
        check=True,
        timeout=120,
    )
    with running_portal(db_url=db_url, log_dir=tmp, env=env) as portal:
        upstream = portal.url.removeprefix("http://")
        config = _nginx_config(tmp, certificate, https_port=https_port, http_port=http_port, upstream=upstream)
        with _running_nginx(nginx, tmp, config, https_port):
            yield Proxied(
                portal=portal,
                https_port=https_port,
                http_port=http_port,
                certificate=certificate,
                nginx_errors=tmp / "error.log",
            )


def _self_signed_certificate(tmp: Path) -> Path:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", f"/CN={SERVER_NAME}", "-addext", f"subjectAltName=DNS:{SERVER_NAME}",
            "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return tmp / "cert.pem"


def _two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = wait_for(lambda: (port := free_port()) != first and port, timeout=5, what="a second free port")
    return first, second


def _nginx_config(tmp: Path, certificate: Path, *, https_port: int, http_port: int, upstream: str) -> Path:
    """deploy/nginx.conf with the lines it marks CHANGE: rewritten, inside a minimal nginx.conf."""
    server = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new, count in [
        ("server 127.0.0.1:8000;", f"server {upstream};", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1),
        ("https://$server_name:443$request_uri;", f"https://$server_name:{https_port}$request_uri;", 1),
        ("server_name assessments.example.com;", f"server_name {SERVER_NAME};", 2),
        ("/etc/ssl/portal/fullchain.pem", str(certificate), 1),
        ("/etc/ssl/portal/privkey.pem", str(tmp / "key.pem"), 1),
    ]:
        assert server.count(old) == count, f"deploy/nginx.conf no longer has {count} x {old!r}"
        server = server.replace(old, new)
    (tmp / "portal.conf").write_text(server)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp / "nginx.conf"
    main.write_text(
        # As root, nginx would run its workers as nobody, who cannot enter pytest's directories.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"error_log {tmp / 'error.log'} warn;\n"
        + "worker_processes 1;\n"
        + "events { worker_connections 64; }\n"
        + f"http {{\n    access_log {tmp / 'access.log'};\n{temp_paths}\n    include {tmp / 'portal.conf'};\n}}\n"
    )
    return main


@contextmanager
def _running_nginx(nginx: str, tmp: Path, config: Path, port: int) -> Iterator[subprocess.Popen]:
    """nginx in the foreground with its pid file, logs and temporary files under ``tmp``."""
    argv = [nginx, "-p", f"{tmp}/", "-e", str(tmp / "error.log"), "-c", str(config)]
    with (tmp / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [*argv, "-g", f"daemon off; pid {tmp / 'nginx.pid'};"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: process.poll() is not None or _listening(port), timeout=30, what="nginx")
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{(tmp / 'error.log').read_text()}")
        yield process
    finally:
        stop_group(process, timeout=15)  # SIGTERM: nginx's fast shutdown, master and workers


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --- Requests -------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def _https(proxied: Proxied, method: str, path: str, *, source: str = "127.0.0.1", headers=None, body=None) -> Reply:
    """A request to nginx over TLS for https://portal.test:<port>, sent from the address ``source``."""
    raw = socket.create_connection(("127.0.0.1", proxied.https_port), timeout=30, source_address=(source, 0))
    context = ssl.create_default_context(cafile=str(proxied.certificate))
    connection = http.client.HTTPConnection(SERVER_NAME, proxied.https_port, timeout=30)
    connection.sock = context.wrap_socket(raw, server_hostname=SERVER_NAME)
    return _exchange(connection, method, path, headers, body)


def _http(port: int, path: str, *, host: str) -> Reply:
    """A plain-http GET to 127.0.0.1:``port`` with the given Host header."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return _exchange(connection, "GET", path, {"Host": host}, None)


def _exchange(connection: http.client.HTTPConnection, method, path, headers, body) -> Reply:
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _cookies(reply: Reply) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {value.split("=", 1)[0]: value for value in reply.headers.get_all("Set-Cookie") or []}


@pytest.fixture
def git(tmp_path) -> GitClient:
    return GitClient(tmp_path / "home")


# --- Public traffic, through nginx ----------------------------------------------------------


def test_the_login_page_is_served_over_https_with_secure_cookies(proxied):
    reply = _https(proxied, "GET", "/accounts/login/")
    assert reply.status == 200
    assert "; Secure" in _cookies(reply)["csrftoken"]
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_signing_in_through_the_proxy_passes_the_csrf_check_and_sets_a_secure_session(proxied):
    # The server has the production hashers; the suite's settings would hash with MD5.
    hasher = PBKDF2PasswordHasher()
    User.objects.create(username="rita", email="rita@example.com", password=hasher.encode(PASSWORD, hasher.salt()))
    page = _https(proxied, "GET", "/accounts/login/")
    csrf_cookie = _cookies(page)["csrftoken"].split(";", 1)[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
    reply = _https(
        proxied,
        "POST",
        "/accounts/login/",
        headers={
            "Cookie": csrf_cookie,
            "Origin": proxied.public_url,  # as a browser sends it: checked against the https origin
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=f"csrfmiddlewaretoken={token}&username=rita&password={PASSWORD.replace(' ', '+')}",
    )
    assert reply.status == 302
    session = _cookies(reply)["sessionid"]
    assert "; Secure" in session
    assert "; HttpOnly" in session


def test_plain_http_through_the_proxy_is_redirected_to_https_on_its_own_port(proxied):
    # Neither port is the default one: the redirect keeps HTTPS's port, not the one asked for.
    reply = _http(proxied.http_port, "/accounts/login/?next=/reviews/", host=f"{SERVER_NAME}:{proxied.http_port}")
    assert reply.status == 301
    assert reply.headers["Location"] == f"https://{SERVER_NAME}:{proxied.https_port}/accounts/login/?next=/reviews/"


def test_internal_paths_are_refused_from_outside(proxied):
    assert _https(proxied, "GET", "/internal/packages/1/").status == 403


# --- Internal traffic, straight to gunicorn -------------------------------------------------


def test_the_health_check_is_served_over_plain_http_on_loopback(proxied):
    port = proxied.gunicorn_port
    reply = _http(port, "/healthz", host=f"127.0.0.1:{port}")
    assert (reply.status, reply.body) == (200, b"ok\n")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", f"{INTERNAL_HOST}:8000"])
def test_internal_git_requests_are_not_redirected_to_https(proxied, created, host):
    port = proxied.gunicorn_port
    path = f"/git/{created.invite.public_id}.git/info/refs?service=git-upload-pack"
    reply = _http(port, path, host=host.format(port=port))
    assert reply.status == 401  # asks for credentials over plain http
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("path", ["/accounts/login/", "/git/{public_id}.git/info/refs?service=git-upload-pack"])
def test_public_requests_that_bypass_the_proxy_are_still_redirected(proxied, created, path):
    path = path.format(public_id=created.invite.public_id)
    reply = _http(proxied.gunicorn_port, path, host=f"{SERVER_NAME}:{proxied.https_port}")
    assert reply.status == 301
    assert reply.headers["Location"] == f"{proxied.public_url}{path}"


def test_an_unknown_host_is_still_refused(proxied):
    port = proxied.gunicorn_port
    assert _http(port, "/healthz", host="attacker.example").status == 400


# --- Git through nginx ----------------------------------------------------------------------


def _git_through_proxy(git: GitClient, proxied: Proxied, *args: str, cwd: Path | None = None, env=None):
    """git trusting the test certificate, with portal.test resolved to nginx's loopback address."""
    resolve = f"{SERVER_NAME}:{proxied.https_port}:127.0.0.1"
    options = ["-c", f"http.sslCAInfo={proxied.certificate}", "-c", f"http.curloptResolve={resolve}"]
    return git.run(*options, *args, cwd=cwd, env=env)


def test_a_clone_and_a_chunked_push_go_through_the_proxy(proxied, created, git, tmp_path):
    public_id = created.invite.public_id
    url = remote_url(proxied.public_url, public_id, public_id, created.git_token)
    work = tmp_path / "work"
    _git_through_proxy(git, proxied, "clone", "-q", url, str(work))
    assert (work / ".git").is_dir()
    # Larger than git's 1 MiB post buffer, so sent chunked, which nginx streams without buffering.
    sha = git.commit_file(work, "data.bin", os.urandom(3 * 1024 * 1024), "Add a large file")
    git.run("checkout", "-q", "-b", "big", cwd=work)
    trace = {"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"}
    push = _git_through_proxy(git, proxied, "push", "origin", "big", cwd=work, env=trace)
    assert "Transfer-Encoding: chunked" in push.stderr
    # Streamed to gunicorn as it came, not spooled to disk first.
    assert "buffered to a temporary file" not in proxied.nginx_errors.read_text()
    [recorded] = Push.objects.filter(invite=created.invite)
    assert [(update.ref, update.new_sha) for update in recorded.ref_updates.all()] == [("refs/heads/big", sha)]


def _pkt_line(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


# A pack with no objects: what git sends when the server already has every object it needs.
_EMPTY_PACK = b"PACK" + struct.pack(">II", 2, 0)
EMPTY_PACK = _EMPTY_PACK + hashlib.sha1(_EMPTY_PACK, usedforsecurity=False).digest()


def test_a_push_is_recorded_with_the_address_nginx_saw(proxied, created):
    """nginx connects to gunicorn from 127.0.0.1; the push came to nginx from 127.0.0.2.

    git cannot choose its source address, so this push is made by hand: a new branch at the
    starting commit, which the server already has.
    """
    invite = created.invite
    command = f"{'0' * 40} {invite.repository.base_commit} refs/heads/from-afar\0report-status\n"
    reply = _https(
        proxied,
        "POST",
        f"/git/{invite.public_id}.git/git-receive-pack",
        source="127.0.0.2",
        headers={
            **_basic(invite.public_id, created.git_token),
            "Content-Type": "application/x-git-receive-pack-request",
            "Accept": "application/x-git-receive-pack-result",
        },
        body=_pkt_line(command.encode()) + b"0000" + EMPTY_PACK,
    )
    assert reply.status == 200
    assert b"ok refs/heads/from-afar" in reply.body
    assert Push.objects.get(invite=invite).address == "127.0.0.2"


def test_a_forged_forwarded_for_is_not_taken_as_the_client_address(proxied, created):
    invite = created.invite
    reply = _https(
        proxied,
        "GET",
        f"/git/{invite.public_id}.git/info/refs?service=git-upload-pack",
        source="127.0.0.2",
        headers={**_basic(invite.public_id, created.git_token), "X-Forwarded-For": "203.0.113.9"},
    )
    assert reply.status == 200
    # nginx appended the address it saw after the forged one; only that one is believed.
    assert invite.events.get(kind=Event.Kind.CLONED).data["address"] == "127.0.0.2"
