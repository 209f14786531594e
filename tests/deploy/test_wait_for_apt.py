"""deploy/wait_for_apt.py, which the Makefile runs before each apt-get: it waits for a lock another
process holds, says so once, goes on when it is let go, and gives up with a sentence at its timeout.

apt and dpkg take their locks with fcntl; here a child process takes one the same way on a file of
the test's own, so nothing on the machine's package manager is touched.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "deploy" / "wait_for_apt.py"
HOLD = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # until the test closes its stdin
)


@pytest.fixture
def lock(tmp_path) -> Path:
    return tmp_path / "lock-frontend"


@pytest.fixture
def holder(lock) -> Iterator[subprocess.Popen]:
    """Another process holding ``lock`` as dpkg does, until its stdin is closed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "held\n"
    yield process
    process.kill()
    process.wait(timeout=10)


def _wait_for_apt(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_it_goes_on_at_once_and_says_nothing_when_no_lock_is_held(lock, tmp_path):
    lock.touch()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--timeout", "60", str(lock), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_it_says_once_that_it_waits_and_goes_on_when_the_other_process_lets_go(lock, holder):
    waiter = _wait_for_apt("--timeout", "120", str(lock))
    try:
        said = waiter.stdout.readline()
        assert said.startswith(f"Waiting for another package manager to finish ({lock} held by ")
        assert said.endswith(f"process {holder.pid})...\n")
        assert waiter.poll() is None  # still waiting: the lock is still held
        holder.stdin.close()
        assert waiter.wait(timeout=30) == 0
        assert waiter.stdout.read() == ""  # one line, however long the wait
    finally:
        waiter.kill()
        waiter.wait()


def test_it_gives_up_with_a_sentence_after_its_timeout(lock, holder):
    waiter = _wait_for_apt("--timeout", "0", str(lock))
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 1
    assert out.startswith("Waiting for another package manager to finish")
    assert err == (
        f"Another package manager still held {lock} after 0 s: let it finish (or stop it), "
        "then run the same make command again.\n"
    )
