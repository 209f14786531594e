"""Held connections: git requests that announce a body and never send it cannot take the web
server's threads from the pages and /healthz, and an honest request that finds the git places
taken waits for one instead of being turned away.

The portal runs under gunicorn with one process of 4 threads, at most 2 git requests at once in
all and 2 per invite, and an idle timeout of 3 s; the held requests are raw sockets on loopback.
"""

import base64
import http.client
import select
import socket
import threading
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

from tests.support.factories import make_invite
from tests.support.git import GitClient, remote_url
from tests.support.server import running_portal
from tests.support.workers import database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

THREADS = 4
IDLE = 3
HELD = 16
# How long gunicorn waits for the unread body of a request it answered before it frees the thread
# (gunicorn.workers.gthread.DEFAULT_WORKER_DATA_TIMEOUT).
DRAIN = 5


@pytest.fixture(scope="module")
def small_portal(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    env = {
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": str(THREADS),
        "PORTAL_GIT_MAX_REQUESTS": "2",
        "PORTAL_GIT_MAX_REQUESTS_PER_INVITE": "2",
        "PORTAL_REQUEST_IDLE_TIMEOUT": str(IDLE),
    }
    with running_portal(db_url=url, log_dir=tmp_path_factory.mktemp("small-portal"), env=env) as server:
        yield server


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _held(server, path: str, authorization: str | None, headers: dict | None = None) -> socket.socket:
    """A POST that announces a 100 kB body and sends none of it."""
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    headers = {
        "Host": parts.netloc,
        "Content-Type": "application/x-git-receive-pack-request",
        "Content-Length": "100000",
        **({"Authorization": authorization} if authorization else {}),
        **(headers or {}),
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    return sock


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before ``timeout`` or before it closed the connection: its headers,
    and as much of the body as came with them."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received:
                break
    except TimeoutError:
        pass
    return received


def _first_answers(socks: list[socket.socket], count: int, within: float) -> dict[socket.socket, bytes]:
    """The answers (as ``_answer`` reads them) of the first ``count`` of ``socks`` to answer, or
    of as many as answered within ``within`` seconds."""
    deadline = time.monotonic() + within
    waiting, answered = list(socks), {}
    while waiting and len(answered) < count and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(waiting, [], [], left)
        for sock in readable[: count - len(answered)]:
            answered[sock] = _answer(sock, timeout=max(deadline - time.monotonic(), 0.1))
            waiting.remove(sock)
    return answered


def _silent(sock: socket.socket) -> bool:
    """The server has sent nothing on ``sock`` yet, and not hung up either."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _get(server, path: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_held_git_pushes_leave_pages_and_health_checks_answering(small_portal, created, assessment_version, tmp_path):
    invite = created.invite
    path = f"/git/{invite.public_id}.git/git-receive-pack"
    authorization = _basic(invite.public_id, created.git_token)
    other = make_invite(assessment_version, name="Bo Other")
    with ExitStack() as stack:
        held = [stack.enter_context(_held(small_portal, path, authorization)) for _ in range(HELD)]
        # "At once" is told apart from "once a thread came free" by order, not by the clock: the
        # two being served hold their threads until the idle timeout gives up on them, so whatever
        # is answered while both are still silent did not wait for them.
        answers = _first_answers(held, count=HELD - 2, within=4 * IDLE)
        served = [sock for sock in held if sock not in answers]

        # Past the invite's 2, each is told to come back later.
        busy = [a for a in answers.values() if a.startswith(b"HTTP/1.1 429")]
        assert len(busy) == HELD - 2
        assert all(b"Retry-After: 10" in a for a in busy)

        # Another invite finds the process's 2 git places taken: it waits for one, not refused.
        other_answer = {}

        def other_request():
            other_answer["response"] = _get(
                small_portal,
                f"/git/{other.invite.public_id}.git/info/refs?service=git-upload-pack",
                {"Authorization": _basic(other.invite.public_id, other.git_token)},
                timeout=8 * IDLE,
            )

        waiting = threading.Thread(target=other_request)
        waiting.start()
        time.sleep(0.5)

        # Pages, the health check and another candidate's sign-in page answer meanwhile.
        for page in ("/healthz", "/accounts/login/", f"/i/{created.link_token}/"):
            status, _headers, _body = _get(small_portal, page)
            assert status == 200, page

        # All of that came while the two being served still waited for their bodies, and the
        # other invite's request still waited for a place.
        assert [_silent(sock) for sock in served] == [True, True]
        assert waiting.is_alive() and not other_answer

        # The idle timeout gives up on the two held requests (well within 4 times it); their
        # places come back, and the waiting request is served.
        waiting.join(timeout=8 * IDLE)
        status, _headers, body = other_answer["response"]
        assert status == 200 and b"git-upload-pack" in body

        for sock in served:
            assert select.select([sock], [], [], 4 * IDLE)[0], "a held request was never given up"

    git = GitClient(tmp_path / "home")
    url = remote_url(small_portal.url, invite.public_id, invite.public_id, created.git_token)
    listing = wait_for(
        lambda: git.run("ls-remote", url, "main", check=False).stdout,
        timeout=IDLE + 10,
        interval=0.5,
        what="git access once the held requests were given up",
    )
    assert "refs/heads/main" in listing


def test_a_429_names_the_repository_cap_in_the_words_git_prints(small_portal, created):
    invite = created.invite
    path = f"/git/{invite.public_id}.git/git-receive-pack"
    authorization = _basic(invite.public_id, created.git_token)
    with ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(_held(small_portal, path, authorization))
        time.sleep(0.5)
        status, headers, body = _get(
            small_portal,
            f"/git/{invite.public_id}.git/info/refs?service=git-upload-pack",
            {"Authorization": authorization},
        )
    assert (status, headers["Content-Type"], headers["Retry-After"]) == (429, "text/plain; charset=utf-8", "10")
    assert body == b"Too many git requests for this repository at once; try again in 10 seconds.\n"


def test_held_requests_without_credentials_hold_nothing(small_portal, created):
    path = f"/git/{created.invite.public_id}.git/git-receive-pack"
    with ExitStack() as stack:
        held = [stack.enter_context(_held(small_portal, path, None)) for _ in range(HELD)]
        # Were each 401 to keep its thread while gunicorn waits for the body (up to DRAIN), the
        # 4 threads would answer 4 requests per DRAIN: the last of 16 after 3 of them.
        answers = _first_answers(held, count=HELD, within=2 * DRAIN)
        assert len(answers) == HELD
        assert all(answer.startswith(b"HTTP/1.1 401") for answer in answers.values())
        status, _headers, _body = _get(small_portal, "/healthz")
        assert status == 200


def test_a_form_whose_body_never_comes_is_given_up_after_the_idle_timeout(small_portal):
    """Not git: a sign-in POST with its CSRF token in a header, announcing a form it never sends.
    The form is given up on after the timeout, as if it were empty: the sign-in page comes back
    asking for the fields, and the thread is free again."""
    _status, headers, _body = _get(small_portal, "/accounts/login/")
    token = headers["Set-Cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]
    form = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={token}",
        "X-CSRFToken": token,
    }
    with _held(small_portal, "/accounts/login/", None, form) as sock:
        began = time.monotonic()
        answer = _answer(sock, timeout=4 * IDLE)  # given up at the idle timeout, not never
        waited = time.monotonic() - began
        answer += _answer(sock, timeout=1)  # the rest of the page
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.count(b'aria-invalid="true"') == 2  # username and password: nothing was read
    assert waited > IDLE - 1  # it did wait for the body: a busy machine only makes this longer
