"""What is scored: a commit's tree, exported from the repository (or fetched) without running anything.

Part of the grader version (portal.scoring.version): a change here can change what a run sees.
"""

from __future__ import annotations

import fcntl
import io
import os
import tarfile
from pathlib import Path

from django.conf import settings

import gitplumbing
from gitplumbing.ownership import owned_mkdir
from portal.core.archives import UnsafeArchive, extract_tar
from portal.core.workers import internal_url, worker_authorization
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
        try:
            extract_tar(tar, destination)
        except UnsafeArchive as exc:
            raise TreeTooLarge(f"the commit {exc}") from exc


def commit_fetch(*, invite: Invite, commit: str, destination: Path) -> Path:
    """Fetch one commit of the invite's repository over HTTP as the worker git user, into ``destination``.

    For scoring workers that do not share the portal's disk; the worker credential may
    fetch any commit by id (including ones only hidden refs keep) and may not push.
    ``destination`` is a bare repository kept as a cache: a commit already there is not
    fetched again. Concurrent calls for one destination take turns.
    """
    owned_mkdir(destination.parent)
    with open(destination.parent / f"{destination.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not destination.exists():
            staging = destination.with_name(f".{destination.name}.{os.getpid()}")
            gitplumbing.run("init", "--quiet", "--bare", str(staging), writes_to=staging)
            staging.rename(destination)
        present = gitplumbing.run("cat-file", "-e", f"{commit}^{{commit}}", git_dir=destination, check=False).ok
        if not present:
            # The credential goes in the environment (readable by this user only), not in argv.
            header = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: {worker_authorization()}",
            }
            url = f"{internal_url()}/git/{invite.public_id}.git"
            gitplumbing.run("fetch", "--quiet", "--depth", "1", url, commit, git_dir=destination, env=header)
    return destination
