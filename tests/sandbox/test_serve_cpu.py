"""A served app says, while it runs, how much CPU it has used and how long a busy host held it back,
so its limits can be judged on its work rather than on a wall clock that other work stretches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import ServeError, serve
from tests.support.load import busy_cores

from .conftest import SMALL, TEST_CONFIG, Host, py

pytestmark = pytest.mark.timeout(120)

LIMITS = replace(SMALL, wall_time=60, cpu_time=30)

# Burns ``seconds`` of its own CPU before it serves, then answers every request with its CPU so far.
BURN_THEN_SERVE = """
    import http.server, os, socketserver, time

    started = time.process_time()
    while time.process_time() - started < {seconds}:
        pass

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = str(time.process_time()).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    socketserver.UnixStreamServer(os.environ["PORTAL_SOCKET"], Handler).serve_forever()
"""


def test_a_served_app_reports_the_cpu_it_has_used_so_far(workdir: Path, host: Host) -> None:
    with serve(argv=py(BURN_THEN_SERVE.format(seconds=0.5)), workdir=workdir, limits=LIMITS, config=TEST_CONFIG,
               ready_timeout=30) as server:  # fmt: skip
        at_start = server.cpu_seconds()
        own = float(server.request("GET", "/").body)  # the app's own count of its CPU seconds
        later = server.cpu_seconds()
    result = server.stop()

    assert at_start is not None and at_start >= 0.5
    # Every process of the sandbox together, read live from its cgroup: at least the app's own count.
    assert later >= own >= 0.5
    assert server.cpu_seconds() == result.cpu_time >= later
    assert result.cpu_wait is not None and server.cpu_wait_seconds() == result.cpu_wait
    host.assert_unaffected(result)


def test_give_up_ends_the_wait_for_an_app_on_the_cpu_it_used(workdir: Path, host: Host) -> None:
    def too_much_cpu(server) -> str | None:
        used = server.cpu_seconds() or 0.0
        return f"it used {used:.2f} CPU s without accepting a connection" if used > 0.5 else None

    with pytest.raises(ServeError, match=r"did not accept connections: it used 0\.\d+ CPU s") as caught:
        serve(argv=py(BURN_THEN_SERVE.format(seconds=20)), workdir=workdir, limits=LIMITS, config=TEST_CONFIG,
              ready_timeout=50, give_up=too_much_cpu)  # fmt: skip

    result = caught.value.result
    assert result is not None and result.limit is None  # given up by the caller, no limit fired
    assert 0.5 < result.cpu_time < 5
    host.assert_unaffected(result)


def test_the_time_busy_neighbours_hold_an_app_back_is_counted_as_waiting_not_as_its_own(
    workdir: Path, host: Host
) -> None:
    with busy_cores(), serve(argv=py(BURN_THEN_SERVE.format(seconds=1)), workdir=workdir, limits=LIMITS,
                             config=TEST_CONFIG, ready_timeout=50) as server:  # fmt: skip
        # Read as it starts serving, while the loops still hold the cores.
        wall, cpu, waiting = server.wall_seconds(), server.cpu_seconds(), server.cpu_wait_seconds()
    host.assert_unaffected(server.stop())

    # Six loops hold both cores: most of the time the app was not running, it waited for a CPU
    # (a ratio: the host's load varies, and some waits, for the disk say, are not counted).
    assert cpu is not None and cpu >= 1
    assert waiting is not None and waiting > 0.5 * (wall - cpu)


def test_an_app_that_sleeps_is_not_counted_as_waiting_for_a_cpu(workdir: Path, host: Host) -> None:
    sleeper = BURN_THEN_SERVE.format(seconds=0).replace("    started = time", "    time.sleep(2)\n    started = time")
    with serve(argv=py(sleeper), workdir=workdir, limits=LIMITS, config=TEST_CONFIG, ready_timeout=30) as server:
        wall, waiting = server.wall_seconds(), server.cpu_wait_seconds()
    host.assert_unaffected(server.stop())

    # Asleep, it waited for nothing: its own time is its wall clock, so a hung app is not excused.
    assert waiting is not None and waiting < 0.25 * wall
