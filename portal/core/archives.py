"""Unpacking tar archives safely: a commit's tree on a worker, an assessment package it fetched.

Framework-free.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath


class UnsafeArchive(ValueError):
    """The archive holds something that must not be written; the message says what."""


def extract_tar(tar: tarfile.TarFile, destination: Path) -> None:
    """Write the archive's directories, files and symlinks under ``destination`` and nothing else.

    Written by hand rather than with ``extractall(filter="data")``, which Debian's Python
    3.11.2 lacks: no absolute or ``..`` paths, nothing written through a symlink, files
    created fresh (never opened through an existing link), no devices or hard links.
    Symlinks are kept as symlinks; the sandbox copies them in without following them.
    """
    root = destination
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if not parts or member.name.startswith("/") or ".." in parts:
            raise UnsafeArchive(f"holds an unsafe path: {member.name!r}")
        parent = root
        for part in parts[:-1]:
            parent = parent / part
            if parent.is_symlink():
                raise UnsafeArchive(f"writes through a symbolic link: {member.name!r}")
        target = root.joinpath(*parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.issym():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(member.linkname, target)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            with source, open(target, "xb") as sink:
                shutil.copyfileobj(source, sink)
            target.chmod(0o755 if member.mode & 0o111 else 0o644)
