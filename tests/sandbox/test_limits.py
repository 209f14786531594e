"""Bombs: each is contained by its limit, reported as such, and leaves the host as it was."""

from __future__ import annotations

import shutil
import signal
from dataclasses import replace

import pytest

from sandbox import KiB, Limit, MiB

from .conftest import TEST_CONFIG, Host, Sandboxed, py, sh

pytestmark = pytest.mark.timeout(60)

FORK_UNTIL_REFUSED = """
    import os, time
    children = 0
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            print(children, exc.errno)
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
"""


def test_a_fork_bomb_is_contained(sandboxed: Sandboxed, host: Host) -> None:
    # The shell becomes the sleep (exec, no fork): a shell that had to fork it while the bomb held
    # every process of the budget would exit at once ("Cannot fork"), and the run end before its clock.
    result = sandboxed(sh("b() { b | b & }; b; exec sleep 30"), limits={"wall_time": 3})

    assert Limit.PROCESSES in result.limits_hit
    assert result.limit == Limit.WALL_TIME
    assert result.signal == signal.SIGKILL  # killed at its wall clock, every process with it (below)
    host.assert_unaffected(result)


def test_forking_stops_at_the_process_limit(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(py(FORK_UNTIL_REFUSED), limits={"processes": 16})

    children, errno_ = map(int, result.stdout.split())
    # The budget is really there (the parent is one of the 16) and really ends.
    assert 12 <= children <= 15
    assert errno_ == 11  # EAGAIN
    assert result.limit == Limit.PROCESSES
    host.assert_unaffected(result)


def test_without_cgroups_rlimit_nproc_on_the_slot_uid_still_holds(sandboxed: Sandboxed, host: Host) -> None:
    config = replace(TEST_CONFIG, cgroups="none")

    result = sandboxed(py(FORK_UNTIL_REFUSED), limits={"processes": 16}, config=config)

    children, _ = map(int, result.stdout.split())
    assert children <= 15
    assert result.mechanisms["processes"].startswith("rlimit:RLIMIT_NPROC")
    host.assert_unaffected(result)


def test_a_memory_bomb_is_killed_by_the_memory_cgroup(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(py("a = []\nwhile True: a.append(bytearray(8 << 20))"), limits={"memory": 96 * MiB})

    assert result.signal == signal.SIGKILL
    assert result.limit == Limit.MEMORY
    assert result.mechanisms["memory"].startswith("cgroup-")
    assert result.memory_peak is not None and result.memory_peak <= 96 * MiB
    host.assert_unaffected(result)


def test_without_a_memory_cgroup_rlimit_as_holds_and_says_it_is_per_process(sandboxed: Sandboxed, host: Host) -> None:
    config = replace(TEST_CONFIG, cgroups="none")

    result = sandboxed(py("a = []\nwhile True: a.append(bytearray(8 << 20))"), config=config)

    assert result.exit_code == 1
    assert b"MemoryError" in result.stderr
    assert result.mechanisms["memory"].startswith("rlimit:RLIMIT_AS")
    assert "NOT enforced" in result.mechanisms["memory"]
    host.assert_unaffected(result)


def test_one_huge_file_stops_at_the_file_size_limit(sandboxed: Sandboxed, host: Host, workdir) -> None:
    result = sandboxed(sh("head -c 200M /dev/zero > big"), limits={"file_size": 4 * MiB, "disk": 32 * MiB})

    assert result.signal == signal.SIGXFSZ
    assert result.limit == Limit.FILE_SIZE
    assert (workdir / "big").stat().st_size == 4 * MiB
    host.assert_unaffected(result)


def test_many_small_files_fill_only_the_sandbox_disk(sandboxed: Sandboxed, host: Host, workdir) -> None:
    free_before = shutil.disk_usage(workdir).free
    script = """
        import os
        os.mkdir("many")
        for i in range(1_000_000):
            try:
                with open(f"many/{i}", "wb") as f:
                    f.write(b"x" * 3000)
            except OSError as exc:
                print(i, exc.errno)
                break
    """

    result = sandboxed(py(script), limits={"disk": 4 * MiB, "copy_back_files": 10_000})

    written, errno_ = map(int, result.stdout.split())
    assert errno_ == 28  # ENOSPC: the 4 MiB tmpfs is full, whatever the host disk has
    assert written < 4 * MiB // 3000 + 1
    assert result.limit == Limit.DISK
    assert free_before - shutil.disk_usage(workdir).free < 64 * MiB
    host.assert_unaffected(result)


def test_empty_files_by_the_hundred_thousand_are_bounded_by_memory(sandboxed: Sandboxed, host: Host) -> None:
    script = """
        import os
        os.mkdir("empty")
        i = 0
        while True:
            os.close(os.open(f"empty/{i}", os.O_CREAT | os.O_WRONLY))
            i += 1
    """

    # tmpfs inodes cost no disk blocks, but their kernel memory is charged to the run's cgroup.
    result = sandboxed(py(script), limits={"memory": 48 * MiB, "wall_time": 10, "copy_back_files": 500})

    assert result.limit == Limit.MEMORY
    # The copy back stopped at its entry limit rather than walking every file: a bounded teardown.
    assert result.copied_back <= 500
    assert result.skipped == ("empty/ (more than 500 entries: the rest was not copied)",)
    host.assert_unaffected(result)


def test_100_mb_to_stdout_is_cut_at_the_output_limit_and_flagged(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(sh("head -c 100M /dev/zero; echo done >&2"), limits={"output": 64 * KiB})

    assert len(result.stdout) == 64 * KiB
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.stderr == b"done\n"
    assert result.exit_code == 0 and result.limit == Limit.OUTPUT
    host.assert_unaffected(result)


def test_a_cpu_loop_is_stopped_at_the_cpu_limit(sandboxed: Sandboxed, host: Host) -> None:
    # A wall clock far beyond the loop's second: on a busy host the loop gets its CPU second later.
    result = sandboxed(py("while True: pass"), limits={"cpu_time": 1, "wall_time": 30})

    # CPU time, not the clock, says when it fired: the cgroup's count of the run's CPU seconds.
    assert result.limits_hit == (Limit.CPU_TIME,)
    assert result.cpu_time is not None and 1 <= result.cpu_time < 2
    host.assert_unaffected(result)


SELF_REPORTING_LOOP = """
import os, sys, time
name, next_report = sys.argv[1], 0.0
while True:
    if time.process_time() >= next_report:
        with open(f"/work/.cpu-{name}", "w") as f:
            f.write(str(time.process_time()))
        os.replace(f"/work/.cpu-{name}", f"/work/cpu-{name}")  # whole, even when killed mid-report
        next_report += 0.02
"""


def test_cpu_time_is_summed_over_all_processes(sandboxed: Sandboxed, host: Host, workdir) -> None:
    loop = f"python3 -c '{SELF_REPORTING_LOOP}'"

    result = sandboxed(sh(f"{loop} a & {loop} b & wait"), limits={"cpu_time": 1, "cpus": 2.0, "wall_time": 20})

    each = [float((workdir / f"cpu-{name}").read_text()) for name in "ab"]
    # Killed when both together reached a second, while each alone was far from it:
    # RLIMIT_CPU (per process) alone would have let each of them run a full second.
    assert result.limit == Limit.CPU_TIME
    assert max(each) < 0.9 and sum(each) > 0.8
    assert result.mechanisms["cpu_time"].startswith("cgroup-")
    host.assert_unaffected(result)


def test_sleeping_forever_ends_at_the_wall_clock(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(["sleep", "infinity"], limits={"wall_time": 1})

    assert result.limits_hit == (Limit.WALL_TIME,)
    assert result.signal == signal.SIGKILL and result.exit_code is None
    # Never before its second (a busy host can only make it later); the wall clock is what fired.
    assert result.wall_time >= 1
    host.assert_unaffected(result)


def test_reading_stdin_gets_end_of_file_at_once(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(py("import sys; data = sys.stdin.buffer.read(); print(len(data))"), limits={"wall_time": 30})

    assert result.ok  # no limit fired: the read got end of file rather than waiting for the wall clock
    assert result.stdout == b"0\n"
    host.assert_unaffected(result)


def test_stdin_can_be_given_and_is_not_writable(sandboxed: Sandboxed, host: Host) -> None:
    script = """
        import os, sys
        print(sys.stdin.read())
        try:
            os.write(0, b"overwrite")
        except OSError as exc:
            print("write", exc.errno)
    """

    result = sandboxed(py(script), stdin=b"hello")

    assert result.stdout.splitlines()[0] == b"hello"
    assert result.stdout.splitlines()[1].startswith(b"write ")
    host.assert_unaffected(result)
