"""Serving mode: an app reachable only through a unix socket in its work directory."""

from __future__ import annotations

import errno
import os
import resource
import signal
import socket
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import ServeError, serve
from sandbox.serve import _SocketWatch

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
    assert result.stopped  # and it says so: the signal is the stop's, not the app's own end
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
    assert not result.stopped  # it ended by itself
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


def test_stop_without_grace_kills_the_app_at_once_and_leaves_nothing(workdir: Path, host: Host) -> None:
    # An app that would take its time over a SIGTERM (it says so, then lingers for a minute).
    lingers = """
        import signal, sys, time
        def linger(*_):
            sys.stderr.write("got SIGTERM\\n")
            time.sleep(60)
        signal.signal(signal.SIGTERM, linger)
        os.fork() or time.sleep(600)  # and a child of its own
    """
    server = serve(argv=app(lingers), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG)
    assert server.request("GET", "/").status == 200

    result = server.stop(grace=0)

    assert result.signal == signal.SIGKILL and result.limit is None and result.stopped
    assert b"got SIGTERM" not in result.stderr  # never asked to stop: killed
    assert server.stop() is result  # idempotent
    host.assert_unaffected(result)


def test_the_wait_for_the_socket_wakes_on_its_name_and_not_on_other_files(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    watch = _SocketWatch(fd, "app.sock")
    try:
        assert watch.fd is not None, "inotify is available on every host the portal supports"
        for name in ("other", "app.sock.tmp", "app.soc"):
            (tmp_path / name).write_text("x")
        assert watch.wait(0.2) is False

        def make_socket() -> None:
            threading.Event().wait(0.3)
            socket.socket(socket.AF_UNIX).bind(str(tmp_path / "app.sock"))

        maker = threading.Thread(target=make_socket)
        maker.start()
        assert watch.wait(60) is True  # woken by the socket's creation, long before the 60 s
        maker.join()
    finally:
        watch.close()
        os.close(fd)


def test_an_app_flooding_its_work_directory_neither_hides_its_socket_nor_keeps_the_host_busy(
    workdir: Path, host: Host
) -> None:
    # Hostile: before serving, one second of creating, renaming and chmodding files in /work,
    # among them a regular file under the socket's own name.
    flood = """
        import time
        end = time.monotonic() + 1.0
        n = 0
        while time.monotonic() < end:
            for name in (f"f{n % 50}", os.environ["PORTAL_SOCKET"]):
                open(name, "w").close()
                os.chmod(name, 0o600)
            os.replace(f"f{n % 50}", f"g{n % 50}")
            n += 1
        os.unlink(os.environ["PORTAL_SOCKET"])
    """
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()

    with serve(argv=app(flood), workdir=workdir, limits=SERVE_LIMITS, config=TEST_CONFIG) as server:
        waited = time.monotonic() - began
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        assert server.request("GET", "/health").status == 200

    # The host's wait (this process: the readiness loop and the supervisor's thread) used a small
    # share of one CPU while the app flooded, however many files it made.
    used = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    assert used < 0.25 * waited, f"{used:.3f} s of CPU in {waited:.3f} s"
    host.assert_unaffected(server.stop())
