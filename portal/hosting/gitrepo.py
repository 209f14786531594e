"""Bare repositories for invites: creation, configuration, kept refs and bundles.

Framework-free: works on paths and runs the real git client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import gitplumbing
from gitplumbing import ZERO_SHA, identity_env
from gitplumbing.ownership import owned_mkdir

# Refs under this prefix are the portal's: hidden from every candidate fetch and push.
HIDDEN_PREFIX = "refs/portal/"
# Every commit ever pushed gets a ref here, so a force-push or a deleted branch loses nothing.
KEEP_PREFIX = "refs/portal/keep/"
# post-receive for every push; a push that moves main from an existing commit gets this folder's
# pre-receive too (main-guard), which checks main is not rewound once git has the pushed objects.
HOOKS_DIR = Path(__file__).resolve().parent / "githooks"
MAIN_GUARD_HOOKS_DIR = HOOKS_DIR / "main-guard"
SHA1 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class RepoPolicy:
    max_input_bytes: int
    max_objects: int


def repository_policy(path: Path, *, default: RepoPolicy) -> RepoPolicy:
    """The limits written into the repository's config when it was created (receive.maxInputSize,
    portal.maxObjects); ``default``'s for any that is missing.

    Read from the config file itself: the git view asks on every push, and starting
    `git config` costs more than the rest of the check. repository_init writes plain
    "key = <integer>" lines; anything else is left to the default.
    """
    found: dict[str, int] = {}
    section = ""
    try:
        text = (path / "config").read_text(errors="replace")
    except OSError:
        return default
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            continue
        key, equals, value = line.partition("=")
        if equals and value.strip().isdigit():
            found[f"{section}.{key.strip().lower()}"] = int(value.strip())
    return RepoPolicy(
        max_input_bytes=found.get("receive.maxinputsize", default.max_input_bytes),
        max_objects=found.get("portal.maxobjects", default.max_objects),
    )


def repository_init(path: Path, *, shipped_dir: Path, policy: RepoPolicy, author: tuple[str, str], message: str) -> str:
    """Create a bare repo whose only commit holds ``shipped_dir`` on main; return its sha.

    The commit is built with plumbing from a temporary index, so nothing from the
    source folder but the files themselves (as its .gitignore filters them) is used.
    """
    owned_mkdir(path.parent)
    gitplumbing.run("init", "--quiet", "--bare", "--initial-branch=main", str(path), writes_to=path)
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
        gitplumbing.run("config", key, value, git_dir=path)

    name, email = author
    # A throwaway index inside the new repository: git writes it as the repository's owner.
    index = path / "portal-init.index"
    index_env = {"GIT_INDEX_FILE": str(index)}
    try:
        gitplumbing.run("--work-tree", str(shipped_dir), "add", "--all", ".", git_dir=path, env=index_env)
        tree = gitplumbing.text("write-tree", git_dir=path, env=index_env)
    finally:
        index.unlink(missing_ok=True)
    commit = gitplumbing.text("commit-tree", tree, "-m", message, git_dir=path, env=identity_env(name, email))
    gitplumbing.run("update-ref", "refs/heads/main", commit, ZERO_SHA, git_dir=path)
    keep_commits(path, [commit])
    return commit


def keep_commits(path: Path, shas: list[str]) -> None:
    """Point a hidden ref at each commit so it stays reachable whatever the branches do."""
    lines = "".join(f"update {KEEP_PREFIX}{sha} {sha}\n" for sha in dict.fromkeys(shas) if sha != ZERO_SHA)
    gitplumbing.update_refs(path, lines)


def loose_ref(path: Path, ref: str) -> str | None:
    """The commit that the loose file of branch ``ref`` (refs/heads/...) names in the repository
    at ``path``, or None when it cannot be read that way: packed into packed-refs, symbolic, absent,
    or kept by another ref storage. Then ask git.

    No git process: a loose ref takes precedence over packed-refs, so the commit it names is where
    the branch points, and git writes it whole (a lock file renamed over it).
    """
    parts = ref.split("/")
    if parts[:2] != ["refs", "heads"] or len(parts) < 3 or any(part in ("", ".", "..") for part in parts):
        return None
    try:
        content = (path / ref).read_bytes()
    except OSError:
        return None
    sha = content.strip().decode("ascii", errors="replace")
    return sha if SHA1.fullmatch(sha) else None


def bundle_create(path: Path, bundle_path: Path) -> None:
    """A bundle of main and HEAD (without HEAD a clone says 'remote HEAD refers to nonexistent ref')."""
    owned_mkdir(bundle_path.parent)
    partial = bundle_path.with_suffix(".partial")
    gitplumbing.run("bundle", "create", str(partial), "HEAD", "refs/heads/main", git_dir=path, writes_to=partial)
    partial.replace(bundle_path)


def all_objects(path: Path) -> set[str]:
    """Every object id in the repository, reachable or not (for audits and tests)."""
    output = gitplumbing.text("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", git_dir=path)
    return set(output.split())
