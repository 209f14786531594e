"""The processes a test starts, and only those: found from the pid it started, or from the
session that process leads (``start_new_session=True``), never by name across the machine
(`pgrep -f`), where another test run or a developer's `make run` would be counted too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def procfile_command(name: str) -> str:
    """The command of the Procfile's ``name:`` line, which honcho runs with /bin/sh in a new session."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise LookupError(f"no {name}: line in the Procfile")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state [0], ppid [1], pgrp [2], session [3]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """Whether ``pid`` exists and has not exited (a zombie waiting to be reaped has exited)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def name(pid: int) -> str:
    """The command name of ``pid`` ("git", "gunicorn", ...), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def children(pid: int) -> set[int]:
    """The children of ``pid``, whichever of its threads started them (gunicorn's threads do)."""
    found: set[int] = set()
    for task_children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.update(int(child) for child in task_children.read_text().split())
    return found


def descendants(pid: int) -> set[int]:
    """Children of ``pid``, their children, and so on, while they are attached to it."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - found:
            found.add(child)
            todo.append(child)
    return found


def session_members(sid: int) -> set[int]:
    """Running processes of session ``sid``: the process started with ``start_new_session=True``
    and everything it started that stayed in its session, even after their parent has exited.
    Only processes descended from the session leader can be in it."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdecimal():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
                members.add(int(entry.name))
    return members


def kill_session(sid: int) -> None:
    """SIGKILL whatever still runs in session ``sid``: cleanup after a test that failed."""
    for pid in session_members(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_group(process, *, timeout: float = 30) -> None:
    """SIGTERM to a process started with start_new_session=True and its whole group; SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
