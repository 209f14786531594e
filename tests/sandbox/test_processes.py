"""Processes that try to outlive their run, crash, or compete with another run."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import Limit, Result, run
from sandbox.slots import processes_of_uid

from .conftest import SMALL, TEST_CONFIG, Host, Sandboxed, py, sh

pytestmark = pytest.mark.timeout(60)

DOUBLE_FORK = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            # The daemon: would keep working long after the command it came from has exited.
            while True:
                with open("/work/heartbeat", "a") as f:
                    f.write("alive\\n")
                time.sleep(0.05)
        os._exit(0)
    os.wait()
    while not os.path.exists("/work/heartbeat") or os.path.getsize("/work/heartbeat") == 0:
        time.sleep(0.01)
    print("parent exits")
"""


def test_a_double_forked_daemon_does_not_outlive_the_run(sandboxed: Sandboxed, host: Host, workdir: Path) -> None:
    result = sandboxed(py(DOUBLE_FORK), limits={"wall_time": 30})

    # The run ended with the parent: no limit fired, so it did not wait for the daemon, which
    # would have kept it running until the wall clock.
    assert result.ok and result.stdout == b"parent exits\n"
    assert "alive" in (workdir / "heartbeat").read_text()  # the daemon did run...
    host.assert_unaffected(result)  # ...and is gone with its run


def test_setsid_and_nohup_processes_do_not_outlive_the_run(sandboxed: Sandboxed, host: Host) -> None:
    script = "setsid sleep 300 & nohup sleep 300 >/dev/null 2>&1 & (sleep 300 &) ; echo started"

    result = sandboxed(sh(script), limits={"wall_time": 30})

    # Returned when the shell exited: no limit fired, so not after the 300 s sleeps (the wall clock
    # of 30 s would have ended it first).
    assert result.ok and result.stdout == b"started\n"
    host.assert_unaffected(result)


def test_the_wall_clock_kill_takes_every_process_of_the_run(sandboxed: Sandboxed, host: Host) -> None:
    hide = "import os, time; os.setsid(); os.fork(); os.fork(); time.sleep(300)"
    script = f"for i in 1 2 3 4 5; do setsid sleep 300 & done; python3 -c '{hide}' & sleep 300"

    result = sandboxed(sh(script), limits={"wall_time": 1})

    assert result.limit == Limit.WALL_TIME
    assert result.signal == signal.SIGKILL  # the kill ended it, not the script
    host.assert_unaffected(result)


def test_a_segfaulting_interpreter_is_reported_as_sigsegv(sandboxed: Sandboxed, host: Host, workdir: Path) -> None:
    result = sandboxed(py("import ctypes; ctypes.string_at(0)"))

    assert result.signal == signal.SIGSEGV and result.signal_name == "SIGSEGV"
    assert result.exit_code is None and result.limit is None
    assert not any("core" in path.name for path in workdir.iterdir())  # RLIMIT_CORE: no dump anywhere
    host.assert_unaffected(result)


def test_two_sandboxes_at_once_do_not_starve_each_other_of_processes(workdir: Path, tmp_path: Path, host: Host) -> None:
    bomb_dir = tmp_path / "bomb"
    bomb_dir.mkdir()
    results: dict[str, Result] = {}

    def bomb() -> None:
        limits = replace(SMALL, processes=24, wall_time=4)
        argv = sh("b() { b | b & }; b; sleep 30")
        results["bomb"] = run(argv=argv, workdir=bomb_dir, limits=limits, config=TEST_CONFIG)

    thread = threading.Thread(target=bomb)
    thread.start()
    time.sleep(1)  # the bomb has exhausted its own budget by now
    # The second run needs most of its own budget at once while the first one is saturated.
    neighbour = run(
        argv=sh("for i in $(seq 20); do sleep 0.5 & done; wait; echo all started"),
        workdir=workdir,
        limits=replace(SMALL, processes=24),
        config=TEST_CONFIG,
    )
    thread.join()

    assert neighbour.ok and neighbour.stdout == b"all started\n"
    assert Limit.PROCESSES in results["bomb"].limits_hit
    assert neighbour.uid != results["bomb"].uid
    host.assert_unaffected(neighbour)
    host.assert_unaffected(results["bomb"])


def test_concurrent_runs_get_distinct_slots(workdir: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    def one(index: int) -> None:
        directory = tmp_path / f"w{index}"
        directory.mkdir()
        result = run(argv=["sleep", "0.5"], workdir=directory, limits=SMALL, config=TEST_CONFIG)
        seen.append((result.slot, result.uid))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({slot for slot, _ in seen}) == 4
    assert len({uid for _, uid in seen}) == 4
    assert all(processes_of_uid(uid) == [] for _, uid in seen)
