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
    for name, (executable, content) in package_digests(root).items():
        digest.update(f"{name}\0{int(executable)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def package_digests(root: Path) -> dict[str, tuple[bool, bytes]]:
    """Each file of the package (its POSIX path, in package order): its executable bit and content's SHA-256."""
    digests = {}
    for relative in package_files(root):
        path = root / relative
        if path.is_symlink():
            raise ValueError(f"{relative}: symbolic links are not allowed in an assessment package")
        digests[relative.as_posix()] = (os.access(path, os.X_OK), hashlib.sha256(path.read_bytes()).digest())
    return digests


def package_changes(before: Path, after: Path) -> dict[str, list[str]]:
    """The files that differ from the package at ``before`` to the one at ``after``, top-level files
    first, under "changed" (content or executable bit), "added" and "removed" (only those with files)."""
    old, new = package_digests(before), package_digests(after)
    changes: dict[str, list[str]] = {"changed": [], "added": [], "removed": []}
    for name in sorted(old.keys() | new.keys(), key=lambda name: (name.count("/"), name)):
        if name not in old:
            changes["added"].append(name)
        elif name not in new:
            changes["removed"].append(name)
        elif old[name] != new[name]:
            changes["changed"].append(name)
    return {kind: names for kind, names in changes.items() if names}


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
