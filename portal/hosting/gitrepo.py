"""Bare repositories for invites: creation, configuration, kept refs and bundles.

Framework-free: works on paths and runs the real git client.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Refs under this prefix are the portal's: hidden from every candidate fetch and push.
HIDDEN_PREFIX = "refs/portal/"
# Every commit ever pushed gets a ref here, so a force-push or a deleted branch loses nothing.
KEEP_PREFIX = "refs/portal/keep/"
ZERO_SHA = "0" * 40
HOOKS_DIR = Path(__file__).resolve().parent / "githooks"


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class RepoPolicy:
    max_input_bytes: int
    max_objects: int


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: bytes | None = None) -> str:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        # Never read the operator's ~/.gitconfig or /etc/gitconfig: behaviour must not depend on them.
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "LC_ALL": "C",
    }
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**base_env, **(env or {})}, input=input, capture_output=True, timeout=120
    )
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(errors="replace").strip()


def repository_init(path: Path, *, shipped_dir: Path, policy: RepoPolicy, author: tuple[str, str], message: str) -> str:
    """Create a bare repo whose only commit holds ``shipped_dir`` on main; return its sha.

    The commit is built with plumbing from a temporary index, so nothing from the
    source folder but the files themselves (as its .gitignore filters them) is used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    for key, value in (
        ("receive.fsckObjects", "true"),
        ("receive.maxInputSize", str(policy.max_input_bytes)),
        ("receive.denyNonFastForwards", "false"),
        ("receive.advertisePushOptions", "false"),
        ("transfer.hideRefs", HIDDEN_PREFIX.rstrip("/")),
        ("http.getanyfile", "false"),
        ("http.uploadpack", "true"),
        ("http.receivepack", "true"),
        ("core.hooksPath", str(HOOKS_DIR)),
        ("portal.maxObjects", str(policy.max_objects)),
        # Objects a candidate pushed stay forever; never let a gc prune anything.
        ("gc.auto", "0"),
        ("gc.pruneExpire", "never"),
    ):
        git("config", key, value, cwd=path)

    name, email = author
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    with tempfile.TemporaryDirectory() as scratch:
        index_env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git("--git-dir", str(path), "--work-tree", str(shipped_dir), "add", "--all", ".", env=index_env)
        tree = git("--git-dir", str(path), "write-tree", env=index_env)
    commit = git("--git-dir", str(path), "commit-tree", tree, "-m", message, env=identity)
    git("--git-dir", str(path), "update-ref", "refs/heads/main", commit, ZERO_SHA)
    keep_commits(path, [commit])
    return commit


def keep_commits(path: Path, shas: list[str]) -> None:
    """Point a hidden ref at each commit so it stays reachable whatever the branches do."""
    lines = "".join(f"update {KEEP_PREFIX}{sha} {sha}\n" for sha in shas if sha != ZERO_SHA)
    if lines:
        git("--git-dir", str(path), "update-ref", "--stdin", input=lines.encode())


def bundle_create(path: Path, bundle_path: Path) -> None:
    """A bundle of main and HEAD (without HEAD a clone says 'remote HEAD refers to nonexistent ref')."""
    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    partial = bundle_path.with_suffix(".partial")
    git("--git-dir", str(path), "bundle", "create", str(partial), "HEAD", "refs/heads/main")
    partial.replace(bundle_path)


def is_ancestor(path: Path, old: str, new: str) -> bool:
    result = subprocess.run(
        ["git", "--git-dir", str(path), "merge-base", "--is-ancestor", old, new], capture_output=True, timeout=60
    )
    return result.returncode == 0


def all_objects(path: Path) -> set[str]:
    """Every object id in the repository, reachable or not (for audits and tests)."""
    output = git("--git-dir", str(path), "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(output.split())
