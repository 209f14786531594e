"""A worker's hidden runs are forks of a warm interpreter (grader.warm): each reports what a cold
pytest reports for the same seed, starts from a state no earlier run touched, is stopped at its limit
like a cold one, and dies with the server that forked it.

Each run is the real trusted pytest against the tiny package's app, served by the grader's local
runner from a copy of its project on a unix socket.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import warm
from grader.local import LocalRunner
from grader.manifest import load_manifest
from grader.run import GraderError, OutOfTime, run_hidden_tests
from tests.grader.tiny_package import HIDDEN_TEST, tiny_package
from tests.support.workers import wait_for

pytestmark = pytest.mark.timeout(180)

# Both tests leave a mark where a later run in the same interpreter would find it, and fail if
# they find one: a run that inherits anything from an earlier one fails.
LEAKY_TEST = """\
import builtins
import sys

import pytest

pytestmark = pytest.mark.ticket(1)


def test_nothing_is_left_in_the_interpreter(client):
    assert not hasattr(builtins, "left_by_an_earlier_run")
    assert "a_module_left_behind" not in sys.modules
    builtins.left_by_an_earlier_run = True
    sys.modules["a_module_left_behind"] = sys
    assert client.get("/answer").status_code == 200
"""

SLOW_TEST = """\
import time

import pytest

pytestmark = pytest.mark.ticket(1)


def test_spins(client):
    while True:
        time.time()
"""


@pytest.fixture
def fresh_servers():
    """This process's warm servers, none running before or after the test (a closed one starts again
    when next used)."""
    _close_all()
    yield warm._SERVERS
    _close_all()


def _close_all() -> None:
    for servers in warm._SERVERS.values():
        for server in servers:
            server.close()


def _served(package: Path, tmp_path: Path):
    manifest = load_manifest(package)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    return manifest, LocalRunner(manifest).start_app(tree)


def _servers_started(servers) -> list:
    return [server for group in servers.values() for server in group if server._process is not None]


def test_a_warm_run_reports_what_a_cold_run_reports_for_the_same_seed(tmp_path, fresh_servers):
    manifest, app = _served(tiny_package(tmp_path / "pkg", hidden_test=HIDDEN_TEST), tmp_path)
    with app as socket_path:
        cold = run_hidden_tests(socket_path, manifest=manifest, seed=1234)
        warm_runs = [run_hidden_tests(socket_path, manifest=manifest, seed=1234, warm=True) for _ in range(2)]
    servers = _servers_started(fresh_servers)
    assert len(servers) == 1  # one server, forked twice
    for run in warm_runs:
        assert [(o.test_id, o.outcome, o.ticket, o.message) for o in run.outcomes] == [
            (o.test_id, o.outcome, o.ticket, o.message) for o in cold.outcomes
        ]
        assert run.returncode == cold.returncode == 1  # the shipped app answers 41
        assert run.seed == 1234
        assert "Warning" not in run.output  # nothing of the fork's own in what the run reports
        # The fork's own CPU, from its rusage: something, and less than a cold interpreter's.
        assert run.grader.cpu > 0
    assert min(run.grader.cpu for run in warm_runs) < cold.grader.cpu


def test_no_run_inherits_anything_from_an_earlier_one(tmp_path, fresh_servers):
    manifest, app = _served(tiny_package(tmp_path / "pkg", hidden_test=LEAKY_TEST), tmp_path)
    with app as socket_path:
        runs = [run_hidden_tests(socket_path, manifest=manifest, warm=True) for _ in range(3)]
    assert [[o.outcome for o in run.outcomes] for run in runs] == [["passed"]] * 3
    assert len(_servers_started(fresh_servers)) == 1


def test_a_warm_run_past_its_limit_is_stopped_and_nothing_of_it_is_left(tmp_path, fresh_servers):
    manifest, app = _served(tiny_package(tmp_path / "pkg", hidden_test=SLOW_TEST), tmp_path)
    with app as socket_path, pytest.raises(OutOfTime) as stopped:
        run_hidden_tests(socket_path, manifest=manifest, timeout=2, warm=True)
    assert "longer than their limit of 2 s" in str(stopped.value)
    (server,) = _servers_started(fresh_servers)
    # The server is ready for the next run, and the stopped fork is gone (the server reaped it).
    assert server._process.poll() is None
    assert _children(server._process.pid) == []


def test_a_fork_dies_with_its_server_and_the_next_run_starts_a_new_one(tmp_path, fresh_servers):
    python = sys.executable
    server_env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    spin = tmp_path / "spin"
    spin.mkdir()
    (spin / "test_spin.py").write_text("def test_spins():\n    while True:\n        pass\n")
    args = ["-c", os.devnull, "-p", "no:cacheprovider", "-q", str(spin)]
    running = warm.warm_start(python, server_env, args, cwd=tmp_path, env=server_env, log=tmp_path / "spin.log")
    (server,) = _servers_started(fresh_servers)
    first = server._process.pid

    os.kill(first, signal.SIGKILL)
    assert _gone(running.pid)  # it died with its server, though nobody killed it
    # Said as what happened to it: killed (run_hidden_tests then reports a grader error, not the app's).
    assert os.waitstatus_to_exitcode(running.finished()[0]) == -signal.SIGKILL

    log = tmp_path / "version.log"
    again = warm.warm_start(python, server_env, ["--version"], cwd=tmp_path, env=server_env, log=log)
    assert os.waitstatus_to_exitcode(again.finished()[0]) == 0
    assert "pytest" in log.read_text()
    assert server._process.pid != first


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether ``pid`` has ended (or is a zombie) within ``within`` seconds: a bounded poll."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_server_started_ahead_is_the_one_the_first_run_forks(tmp_path, fresh_servers):
    """A scoring worker's process starts its server as it starts (portal.celery): a run that comes
    while it is still importing waits for it rather than starting a second one."""
    python = sys.executable
    server_env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    starting = warm.warm_prestart(python, server_env)
    assert starting is not None
    log = tmp_path / "version.log"
    run = warm.warm_start(python, server_env, ["--version"], cwd=tmp_path, env=server_env, log=log)
    assert os.waitstatus_to_exitcode(run.finished()[0]) == 0 and "pytest" in log.read_text()
    starting.join(timeout=30)
    (server,) = _servers_started(fresh_servers)
    assert run.server is server and not server.starting
    assert warm.warm_prestart(python, server_env) is None  # it runs already: nothing more is started


def test_the_server_and_its_fork_end_with_the_process_that_started_them(tmp_path):
    """A worker process killed in the middle of a run (SIGKILL: nothing of its own runs): the server
    sees its input close, kills the fork it is watching and exits."""
    spin = tmp_path / "spin"
    spin.mkdir()
    (spin / "test_spin.py").write_text("def test_spins():\n    while True:\n        pass\n")
    script = f"""
import os, sys, time
sys.path.insert(0, {str(warm.GRADER_ROOT)!r})
from grader import warm
env = {{"PATH": os.environ["PATH"], "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}}
args = ["-c", os.devnull, "-p", "no:cacheprovider", "-q", {str(spin)!r}]
run = warm.warm_start(sys.executable, env, args, cwd={str(tmp_path)!r}, env=env, log={str(tmp_path / "log")!r})
print(run.server._process.pid, run.pid, flush=True)
time.sleep(300)
"""
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server, fork = (int(pid) for pid in worker.stdout.readline().split())
        assert not _gone(fork, within=0.2)  # it runs
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()
    assert _gone(fork) and _gone(server)


def test_a_server_killed_during_a_run_is_a_grader_error_not_the_apps(tmp_path, fresh_servers):
    manifest, app = _served(tiny_package(tmp_path / "pkg", hidden_test=SLOW_TEST), tmp_path)
    outcome: list[BaseException | object] = []

    def hidden(socket_path: str) -> None:
        try:
            outcome.append(run_hidden_tests(socket_path, manifest=manifest, timeout=20, warm=True))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    with app as socket_path:
        thread = threading.Thread(target=hidden, args=(socket_path,))
        thread.start()
        wait_for(
            lambda: [s for s in _servers_started(fresh_servers) if _children(s._process.pid)],
            timeout=30,
            what="the warm server's fork to run the hidden tests",
        )
        (server,) = _servers_started(fresh_servers)
        assert _children(server._process.pid)  # its fork runs the hidden tests
        os.kill(server._process.pid, signal.SIGKILL)
        thread.join(timeout=120)
    (error,) = outcome
    assert isinstance(error, GraderError) and not isinstance(error, OutOfTime)
    assert "pytest exited with code -9" in str(error)


def test_a_server_killed_the_moment_it_forks_is_a_grader_error(tmp_path, fresh_servers, monkeypatch):
    """Killed before its fork could open its output: the run still ends as the grader's error."""
    manifest, app = _served(tiny_package(tmp_path / "pkg", hidden_test=HIDDEN_TEST), tmp_path)
    started = warm.warm_start

    def start_then_kill(*args, **kwargs):
        run = started(*args, **kwargs)
        os.kill(run.pid, signal.SIGKILL)
        os.kill(run.server._process.pid, signal.SIGKILL)
        return run

    monkeypatch.setattr("grader.run.warm_start", start_then_kill)
    with app as socket_path, pytest.raises(GraderError) as failed:
        run_hidden_tests(socket_path, manifest=manifest, timeout=20, warm=True)
    assert not isinstance(failed.value, OutOfTime)
    assert "pytest exited with code -9" in str(failed.value)
