"""Each worker process's scratch folder: what a killed worker left is removed by the next one.

A run works in temporary folders (the exported tree, the app's copy, the visible tests' copy), and
removes them however it ends, unless its worker process is killed (SIGKILL, the host's OOM killer,
a power cut), which leaves them behind for good. So every pool process puts its temporary files
in a folder of its own, ``portal-worker-<pid>`` under the system's temporary directory, and on
start removes the folders of processes that no longer exist, as well as a folder of its own pid
left by a process before it.

The app's unix socket is made in a temporary folder too, in /tmp when the scratch folder's path is
too long for a socket's 108 bytes (grader.local.socket_folder).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "portal-worker-"
logger = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def scratch_begin(*, base: Path | None = None) -> Path:
    """Make this process's scratch folder its temporary directory, after removing stale ones; its path."""
    base = Path(base or tempfile.gettempdir())
    own = base / f"{PREFIX}{os.getpid()}"
    removed = 0
    for folder in base.glob(f"{PREFIX}*"):
        pid = folder.name.removeprefix(PREFIX)
        if not pid.isdigit() or folder.is_symlink() or not folder.is_dir():
            continue
        if folder == own or not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        logger.info("Removed %d scratch folders of worker processes that no longer exist.", removed)
    own.mkdir(mode=0o700)
    tempfile.tempdir = str(own)
    os.environ["TMPDIR"] = str(own)
    return own


def scratch_end() -> None:
    """Remove this process's scratch folder (a warm shutdown)."""
    own = Path(tempfile.gettempdir())
    if own.name == f"{PREFIX}{os.getpid()}":
        shutil.rmtree(own, ignore_errors=True)
