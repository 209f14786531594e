"""is_ancestor: the loose commits walked first, git asked for everything else, with the same answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import gitplumbing
from gitplumbing import LOOSE_WALK, _loose_parents, is_ancestor


class Repo:
    def __init__(self, root: Path):
        self.root = root
        self.git("init", "-q", "-b", "main")
        self.git_dir = root / ".git"

    def git(self, *args: str) -> str:
        identity = ["-c", "user.name=Candidate", "-c", "user.email=candidate@example.org", "-c", "gc.auto=0"]
        done = subprocess.run(["git", *identity, *args], cwd=self.root, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def diverged(self) -> tuple[str, str, str]:
        """A base commit, then one commit on a branch "side" and one on main: (base, side, main)."""
        base = self.commit("base")
        self.git("checkout", "-q", "-b", "side")
        side = self.commit("side")
        self.git("checkout", "-q", "main")
        return base, side, self.commit("main")


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path)


@pytest.fixture
def git_calls(monkeypatch):
    """Every git command is_ancestor starts, still run."""
    calls = []
    run = gitplumbing.run
    monkeypatch.setattr(gitplumbing, "run", lambda *args, **kwargs: calls.append(args) or run(*args, **kwargs))
    return calls


def test_a_fast_forward_of_loose_commits_is_found_without_starting_git(repo, git_calls):
    first = repo.commit("first")
    repo.commit("second")
    third = repo.commit("third")

    assert is_ancestor(repo.git_dir, first, third)
    assert git_calls == []


def test_an_ancestor_through_a_merge_is_found_too(repo, git_calls):
    base, side, _main = repo.diverged()
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = repo.git("rev-parse", "HEAD")

    assert is_ancestor(repo.git_dir, side, merge) and is_ancestor(repo.git_dir, base, merge)
    assert git_calls == []


def test_what_the_walk_does_not_find_is_asked_of_git_with_the_same_answers(repo, git_calls):
    base, side, main = repo.diverged()

    # Diverged: not an ancestor, which only git can say.
    assert not is_ancestor(repo.git_dir, side, main)
    assert len(git_calls) == 1
    # Packed: nothing loose to walk, git answers.
    repo.git("repack", "-a", "-d", "-q")
    repo.git("prune-packed")
    assert _loose_parents(repo.git_dir, main) is None
    assert is_ancestor(repo.git_dir, base, main)
    assert len(git_calls) == 2
    # The same commit: git answers that one too.
    assert is_ancestor(repo.git_dir, main, main)
    assert len(git_calls) == 3


def test_a_history_longer_than_the_walk_is_asked_of_git(repo, git_calls):
    first = repo.commit("first")
    for n in range(LOOSE_WALK + 1):
        last = repo.commit(f"commit {n}")

    assert is_ancestor(repo.git_dir, first, last)
    assert len(git_calls) == 1


def test_names_and_objects_that_are_not_loose_commits_are_not_read_as_one(repo):
    commit = repo.commit("first")
    (repo.root / "file.txt").write_text("a file\n")
    blob = repo.git("hash-object", "-w", "file.txt")

    assert _loose_parents(repo.git_dir, commit) == []
    assert _loose_parents(repo.git_dir, blob) is None  # a blob
    assert _loose_parents(repo.git_dir, "../../etc/passwd") is None  # not an object name
    assert _loose_parents(repo.git_dir, commit.upper()) is None
    assert _loose_parents(repo.git_dir, "0" * 40) is None  # no such object
    # An object file that does not inflate (damaged on disk) is not read as a commit.
    damaged = "1" * 40
    path = repo.git_dir / "objects" / damaged[:2] / damaged[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not zlib at all")
    assert _loose_parents(repo.git_dir, damaged) is None
