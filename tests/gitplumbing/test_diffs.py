"""gitplumbing.diffs: commits and diffs between two commits, bounded and stored as JSON."""

import json
import os
from pathlib import Path

import pytest

import gitplumbing
from gitplumbing.diffs import Commit, Diff, commits_between, diff_between

CAPS = {"max_bytes": 1_000_000, "max_lines": 5_000, "max_files": 300}


class Work:
    """A work repository with commits of fixed identities."""

    def __init__(self, root: Path):
        self.path = root / "work"
        gitplumbing.run("init", "-q", "--initial-branch=main", str(self.path), cwd=root)
        self.git_dir = self.path / ".git"

    def commit(self, files: dict, message: str, author=("Ann Example", "ann@example.com")) -> str:
        for name, content in files.items():
            target = self.path / os.fsdecode(name)
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        gitplumbing.run("add", "-A", cwd=self.path)
        env = gitplumbing.identity_env(*author, date="1700000000 +0000")
        gitplumbing.run("commit", "-q", "--allow-empty", "-m", message, cwd=self.path, env=env)
        return gitplumbing.text("rev-parse", "HEAD", cwd=self.path)


@pytest.fixture
def work(tmp_path):
    return Work(tmp_path)


def _file(diff, path):
    return next(f for f in diff.files if f.path == path)


def test_commits_between_lists_the_new_commits_oldest_first_with_their_authors(work):
    base = work.commit({"README.md": "hello\n"}, "Start")
    work.commit({"a.py": "A = 1\n"}, "Add a\n\nBecause a is needed.", author=("Bo Other", "bo@example.com"))
    head = work.commit({"b.py": "B = 2\n"}, "Add b")
    commits, capped = commits_between(work.git_dir, base, head, limit=10)
    assert not capped
    assert [(c.subject, c.author, c.author_email) for c in commits] == [
        ("Add a", "Bo Other", "bo@example.com"),
        ("Add b", "Ann Example", "ann@example.com"),
    ]
    assert commits[0].body == "Because a is needed."
    assert commits[1].sha == head and commits[1].short_sha == head[:7]


def test_commits_between_keeps_the_latest_and_says_it_capped(work):
    base = work.commit({"README.md": "hello\n"}, "Start")
    for n in range(5):
        head = work.commit({}, f"step {n}")
    commits, capped = commits_between(work.git_dir, base, head, limit=3)
    assert capped
    assert [c.subject for c in commits] == ["step 2", "step 3", "step 4"]


def test_a_diff_round_trips_through_json(work):
    base = work.commit({"README.md": "hello\n", "old.txt": "same\n" * 5}, "Start")
    head = work.commit({"README.md": "hello\nworld\n", "old.txt": None, "new.txt": "same\n" * 5}, "Change")
    diff = diff_between(work.git_dir, base, head, **CAPS)
    assert _file(diff, "new.txt").status == "renamed" and _file(diff, "new.txt").old_path == "old.txt"
    stored = json.loads(json.dumps(diff.to_dict()))
    again = Diff.from_dict(stored)
    assert again.to_dict() == diff.to_dict()
    assert [(line.kind, line.text) for line in _file(again, "README.md").hunks[0].lines] == [
        ("context", "hello"),
        ("add", "world"),
    ]
    commits, _ = commits_between(work.git_dir, base, head, limit=5)
    assert Commit.from_dict(json.loads(json.dumps(commits[0].to_dict()))) == commits[0]


def test_binary_and_undecodable_files_are_listed_safely(work):
    base = work.commit({"README.md": "hello\n"}, "Start")
    head = work.commit({"logo.png": b"\x89PNG\r\n\x1a\n\x00" + bytes(range(256)), b"caf\xe9.txt": b"caf\xe9\n"}, "Add")
    diff = diff_between(work.git_dir, base, head, **CAPS)
    logo = _file(diff, "logo.png")
    assert logo.binary and logo.shown and logo.hunks == [] and logo.additions is None
    latin = _file(diff, "caf\ufffd.txt")
    assert latin.hunks[0].lines[0].text == "caf\ufffd"
    json.dumps(diff.to_dict())  # no surrogate escapes reach what is stored


def test_a_huge_diff_is_capped_and_names_what_it_does_not_show(work):
    base = work.commit({"README.md": "hello\n"}, "Start")
    big = "".join(f"line {n}\n" for n in range(4_000))
    head = work.commit(
        {"big0.txt": big, "big1.txt": big, "huge.txt": "x" * 2_000_000 + "\n", "small.txt": "s\n"}, "Big"
    )
    diff = diff_between(work.git_dir, base, head, **CAPS)
    assert diff.capped
    assert sorted(diff.not_shown) == ["big1.txt", "huge.txt"]
    assert sum(len(h.lines) for f in diff.files for h in f.hunks) <= 5_000


def test_no_common_history_gives_an_empty_diff(work):
    base = work.commit({"README.md": "hello\n"}, "Start")
    gitplumbing.run("checkout", "-q", "--orphan", "other", cwd=work.path)
    orphan = work.commit({"README.md": "again\n"}, "Start again")
    diff = diff_between(work.git_dir, base, orphan, **CAPS)
    assert diff.no_common_history and diff.files == []
    assert diff_between(work.git_dir, None, orphan, **CAPS).no_common_history
