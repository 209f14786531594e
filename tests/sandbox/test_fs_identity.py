"""fs_identity (sandbox/files.py) switches the thread's file-system identity and leaves the rest of the
thread as it was: its parent-death signal, which the kernel clears on a change of fsuid or fsgid, is
set back (a worker's pool process must still die with its killed parent)."""

import ctypes
import os
import signal

from sandbox.files import fs_identity

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2


def _death_signal() -> int:
    value = ctypes.c_int()
    _libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(value))
    return value.value


def _in_child(check) -> int:
    """Run ``check`` in a forked child (the signal is the child's own); its exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = check()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_parent_death_signal_survives_a_change_of_file_system_identity():
    def check() -> int:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        with fs_identity(64999, 64999):
            cleared = _death_signal()
        # 10: the kernel cleared it inside (what made the fix needed); 0: set back afterwards.
        return (10 if cleared == 0 else 20) + (0 if _death_signal() == signal.SIGKILL else 1)

    assert _in_child(check) == 10


def test_a_thread_without_a_parent_death_signal_gets_none():
    def check() -> int:
        _libc.prctl(PR_SET_PDEATHSIG, 0)
        with fs_identity(64999, 64999):
            pass
        return _death_signal()

    assert _in_child(check) == 0
