"""Serving mode: an app reachable only through a unix socket in its work directory."""

from __future__ import annotations

import errno
import os
import socket
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import ServeError, serve

from .conftest import SMALL, TEST_CONFIG, Host, py

pytestmark = pytest.mark.timeout(60)

APP = """
    import http.server, os, socketserver

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from pid {os.getpid()} at {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    {before}
    socketserver.UnixStreamServer(os.environ["PORTAL_SOCKET"], Handler).serve_forever()
"""

SERVE_LIMITS = replace(SMALL, wall_time=30)


def app(before: str = "") -> list[str]:
    """The app, with ``before`` (any indentation) run just before it starts serving."""
    return py(APP.replace("    {before}", textwrap.indent(textwrap.dedent(before), "    ")))


def test_a_served_app_answers_over_its_socket_and_stop_leaves_nothing(workdir: Path, host: Host) -> None:
    with serve(argv=app(), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG) as server:
        response = server.request("GET", "/health")
        second = server.request("GET", "/again")
    result = server.stop()

    assert response.status == 200 and response.body == b"hello from pid 1 at /health"
    assert second.body.endswith(b"/again")
    assert result.signal is not None and result.limit is None  # stopped by us, not by a limit
    host.assert_unaffected(result)


def test_an_app_that_never_listens_is_given_up_on_cleanly(workdir: Path, host: Host) -> None:
    with pytest.raises(ServeError, match="did not accept connections within 1s") as caught:
        serve(argv=py("import time; time.sleep(300)"), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG,
              ready_timeout=1)  # fmt: skip

    # Given up at its 1 s ready timeout: stopped by serve(), not by a limit, and in a small part of
    # the 30 s wall clock that would otherwise have ended it.
    result = caught.value.result
    assert result is not None and result.limit is None
    assert result.wall_time < SERVE_LIMITS.wall_time / 4
    host.assert_unaffected(result)


def test_an_app_that_crashes_at_start_is_reported_with_its_output(workdir: Path, host: Host) -> None:
    with pytest.raises(ServeError, match="ended before it was ready") as caught:
        serve(argv=py("raise SystemExit('no database configured')"), workdir=workdir, limits=SERVE_LIMITS,
              config=TEST_CONFIG)  # fmt: skip

    result = caught.value.result
    assert result is not None and result.exit_code == 1
    assert b"no database configured" in result.stderr
    host.assert_unaffected(result)


def test_a_socket_swapped_for_a_symlink_to_a_host_socket_is_not_followed(
    workdir: Path, tmp_path: Path, host: Host
) -> None:
    # A socket on the host the candidate would like the grader to talk to (think PostgreSQL's).
    host_socket = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(host_socket))
    listener.listen()
    listener.settimeout(0.5)
    swap = f"""
        import threading, time
        def swap():
            time.sleep(0.5)
            os.replace("/work/evil", os.environ["PORTAL_SOCKET"])
        os.symlink({str(host_socket)!r}, "/work/evil")
        threading.Thread(target=swap, daemon=True).start()
    """

    with serve(argv=app(swap), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG) as server:
        work_fd = server._sandbox.work_fd
        for _ in range(200):  # until the app has made the swap
            if os.path.islink(f"/proc/self/fd/{work_fd}/app.sock"):
                break
            threading.Event().wait(0.05)
        with pytest.raises(OSError, match="not a socket"):
            server.request("GET", "/")

    with pytest.raises(TimeoutError):
        listener.accept()  # nobody connected to the host's socket
    listener.close()
    host.assert_unaffected(server.stop())


def test_the_served_app_cannot_reach_the_host_network(workdir: Path, host: Host) -> None:
    probe = """
        s = __import__("socket").socket()
        s.settimeout(2)
        Handler.reach = s.connect_ex(("127.0.0.1", 5432))
        def answer(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"%d" % self.reach)
        Handler.do_GET = answer
    """

    with serve(argv=app(probe), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG) as server:
        response = server.request("GET", "/")

    assert response.body == str(errno.ECONNREFUSED).encode()
    host.assert_unaffected(server.stop())
