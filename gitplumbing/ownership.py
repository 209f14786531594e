"""One owner for the portal's data: what root writes lands as the owner of the folder it writes into.

The data directory belongs to one unprivileged user (the web server's). Some processes that
touch it run as root: the scoring worker that has the data directory (the sandbox needs root)
and commands an operator runs in its container. Whatever they write must stay usable by the
owner, or the next push or invite fails on a root-owned file. The rule, applied by
:func:`gitplumbing.run` and by the few places that write files themselves:

* a process that is not root writes as itself (and must be the owner: the system check
  ``portal.E003`` says so when it is not);
* root runs git as the owner of the nearest existing folder of the path git writes to, and
  hands the files and folders it creates itself to that owner.

Standard library only, like the rest of gitplumbing.
"""

from __future__ import annotations

import os
from pathlib import Path


def nearest_existing(path: Path | str) -> Path:
    """``path`` itself if it exists, else its closest existing parent."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def owner_to_act_as(path: Path | str) -> tuple[int, int] | None:
    """(uid, gid) root should act as to write at ``path``; None when no switch is needed.

    None when this process is not root, or when the folder belongs to root itself.
    """
    if os.geteuid() != 0:
        return None
    info = nearest_existing(path).stat()
    if info.st_uid == 0:
        return None
    return info.st_uid, info.st_gid


def owned_mkdir(path: Path | str, *, mode: int = 0o755) -> Path:
    """Create ``path`` and missing parents; as root, give each new folder to the owner of its parent."""
    path = Path(path)
    missing = []
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        owner = owner_to_act_as(folder.parent)
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # another process made it first
        if owner is not None:
            os.chown(folder, *owner)
    return path


def give_tree(path: Path | str, owner: tuple[int, int] | None) -> None:
    """Hand ``path`` and everything under it to ``owner`` (no-op for None); links are not followed."""
    if owner is None:
        return
    root = Path(path)
    os.chown(root, *owner, follow_symlinks=False)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(Path(directory) / name, *owner, follow_symlinks=False)


def popen_user(path: Path | str | None) -> dict:
    """Keywords for subprocess that run a command as the owner root should act as at ``path``."""
    if path is None:
        return {}
    owner = owner_to_act_as(path)
    if owner is None:
        return {}
    uid, gid = owner
    return {"user": uid, "group": gid, "extra_groups": []}
