"""What is scored: a commit's tree, exported from the repository (or fetched) without running anything.

Part of the grader version (portal.scoring.version): a change here can change what a run sees.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from django.conf import settings

import gitplumbing
from portal.hosting.services import worker_git_token
from portal.invites.models import Invite


class TreeTooLarge(Exception):
    """The commit cannot be scored as it is (too many files, too large, unsafe paths); the message says why."""


def tree_export(*, repo: Path, commit: str, destination: Path) -> None:
    """Write the commit's tree into ``destination`` with `git archive` (no checkout, no hooks).

    A tree over the file-count or size cap raises TreeTooLarge rather than filling the disk.
    """
    files, total = gitplumbing.tree_size(repo, commit)
    if files > settings.PORTAL_SCORING_MAX_FILES:
        raise TreeTooLarge(f"the commit has {files} files; at most {settings.PORTAL_SCORING_MAX_FILES} are scored")
    if total > settings.PORTAL_SCORING_MAX_TREE_MB * 1024 * 1024:
        raise TreeTooLarge(
            f"the commit's files add up to {total / 1024 / 1024:.1f} MB; "
            f"at most {settings.PORTAL_SCORING_MAX_TREE_MB} MB are scored"
        )
    with tarfile.open(fileobj=io.BytesIO(gitplumbing.archive(repo, commit))) as tar:
        _extract(tar, destination)


def commit_fetch(*, invite: Invite, commit: str, destination: Path) -> Path:
    """Fetch one commit of the invite's repository over HTTP as the worker git user.

    For scoring workers that do not share the portal's disk; the worker credential may
    fetch any commit by id (including ones only hidden refs keep) and may not push.
    """
    base = urlsplit(settings.PORTAL_INTERNAL_URL or settings.PORTAL_BASE_URL)
    url = f"{base.scheme}://worker:{quote(worker_git_token(), safe='')}@{base.netloc}/git/{invite.public_id}.git"
    gitplumbing.run("init", "--quiet", "--bare", str(destination))
    gitplumbing.run("fetch", "--quiet", "--depth", "1", url, commit, git_dir=destination)
    return destination


def _extract(tar: tarfile.TarFile, destination: Path) -> None:
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
            raise TreeTooLarge(f"the commit holds an unsafe path: {member.name!r}")
        parent = root
        for part in parts[:-1]:
            parent = parent / part
            if parent.is_symlink():
                raise TreeTooLarge(f"the commit writes through a symbolic link: {member.name!r}")
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
