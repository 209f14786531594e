"""Assessment packages on disk: content hashing and immutable snapshots. Framework-free."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gitplumbing.ownership import give_tree, owned_mkdir, owner_to_act_as

# Never part of a package's identity or snapshot: caches and local databases that
# running the project or its tests leaves behind.
IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", "venv", ".git"}
IGNORED_SUFFIXES = (".pyc", ".pyo", ".db", ".db-journal", ".sqlite3")


def package_files(root: Path) -> Iterator[Path]:
    """Every file of the package, in a stable order, as paths relative to ``root``."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in sorted(filenames):
            if not name.endswith(IGNORED_SUFFIXES):
                yield (Path(directory) / name).relative_to(root)


def package_hash(root: Path) -> str:
    """SHA-256 over every file's path, executable bit and content."""
    digest = hashlib.sha256()
    for relative in package_files(root):
        path = root / relative
        if path.is_symlink():
            raise ValueError(f"{relative}: symbolic links are not allowed in an assessment package")
        executable = os.access(path, os.X_OK)
        digest.update(f"{relative.as_posix()}\0{int(executable)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def package_snapshot(root: Path, destination: Path) -> Path:
    """Copy the package to ``destination`` once; concurrent callers end with the same copy.

    Run by root (a command in the worker's container), the copy goes to the owner of the folder.
    """
    if destination.exists():
        return destination
    owned_mkdir(destination.parent)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=destination.parent))
    try:
        for relative in package_files(root):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, target)
        staging.chmod(0o755)
        give_tree(staging, owner_to_act_as(destination.parent))
        try:
            staging.rename(destination)
        except OSError:
            if not destination.exists():
                raise
            # Another process finished the same snapshot first; theirs is identical.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination
