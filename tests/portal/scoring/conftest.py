"""A candidate's repository in miniature: a work clone that pushes into a bare repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

CANDIDATE = ("Ann Example", "ann@example.com")
PORTAL = ("Assessment Portal", "portal@example.com")
VISIBLE_TESTS = ["tests/conftest.py", "tests/test_books.py", "tests/test_loans.py"]
TEMPLATE = {
    "README.md": "# Library\n",
    # A finding the template already has (os is unused): never the candidate's.
    "app/books.py": "import os\n\n\ndef list_books():\n    return []\n",
    "app/loans.py": "import sys\n\n\ndef arguments():\n    return sys.argv\n",
    "app/legacy.py": "def is_missing(x):\n    return x == None\n",
    "app/settings.py": 'DEBUG = False\npassword = "template-shipped-value"\n',
    "tests/conftest.py": "import pytest\n",
    "tests/test_books.py": "def test_books():\n    assert True\n",
    "tests/test_loans.py": "def test_loans():\n    assert True\n",
}


class Workbench:
    """Commits with fixed identities and dates in ``work``, pushed to the bare ``origin``."""

    def __init__(self, root: Path):
        self.work = root / "work"
        self.origin = root / "origin.git"
        self._clock = 1_700_000_000
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "LC_ALL": "C",
        }
        self.git("init", "-q", "--bare", "--initial-branch=main", str(self.origin), cwd=root)
        self.git("init", "-q", "--initial-branch=main", str(self.work), cwd=root)
        self.git("remote", "add", "origin", str(self.origin))
        self.base = self.commit("Library: starting point", TEMPLATE, author=PORTAL)
        self.push("main")

    def git(self, *args: str, cwd: Path | None = None, author: tuple[str, str] = CANDIDATE) -> str:
        self._clock += 60
        stamp = f"@{self._clock} +0000"
        env = {
            **self.env,
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": CANDIDATE[0],
            "GIT_COMMITTER_EMAIL": CANDIDATE[1],
            "GIT_COMMITTER_DATE": stamp,
        }
        result = subprocess.run(["git", *args], cwd=cwd or self.work, env=env, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode().strip()

    def commit(
        self, message: str, files: dict[str, str | bytes | None] | None = None, author: tuple[str, str] = CANDIDATE
    ) -> str:
        """Write (or, for None, delete) ``files`` and commit them; return the new sha."""
        for name, content in (files or {}).items():
            path = self.work / name
            if content is None:
                self.git("rm", "-q", name)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            self.git("add", "-f", name)
        self.git("commit", "-q", "--allow-empty", "-m", message, author=author)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "main") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def push(self, *branches: str, force: bool = False) -> None:
        self.git("push", "-q", "origin", *(f"{'+' if force else ''}{name}:{name}" for name in branches))

    def delete(self, branch: str) -> None:
        self.git("push", "-q", "origin", f":{branch}")

    def heads(self) -> dict[str, str]:
        with git.Repo(self.origin) as repo:
            return {head.name: head.commit.hexsha for head in repo.heads}

    def fix(self, ticket: int, files: dict[str, str | bytes | None] | None = None, push: bool = True) -> str:
        """A well-behaved fix for ``ticket`` on its own branch ``issue-<ticket>`` from main."""
        self.branch(f"issue-{ticket}")
        sha = self.commit(
            f"Fix: Resolve issue #{ticket} - handle case {ticket}",
            files or {f"app/fix_{ticket}.py": f"def fix_{ticket}():\n    return {ticket}\n"},
        )
        if push:
            self.push(f"issue-{ticket}")
        self.checkout("main")
        return sha


@pytest.fixture
def bench(tmp_path: Path) -> Workbench:
    return Workbench(tmp_path)
