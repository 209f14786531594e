"""What the git tests of this folder share: a clone over HTTP, and the refs a repository holds."""

import subprocess

import pytest

from portal.hosting.services import repository_path
from tests.support.git import GitClient, remote_url


def repository_refs(invite) -> str:
    """Every ref of the invite's bare repository with its commit, one per line."""
    return subprocess.run(
        ["git", "--git-dir", str(repository_path(invite)), "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def work(tmp_path, portal_server, created):
    """The candidate's clone over HTTP from the portal under gunicorn, on branch issue-1 with one new
    commit not pushed yet; (the git client, the clone's folder)."""
    git = GitClient(tmp_path / "home")
    url = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)
    dest = tmp_path / "work"
    git.run("clone", "-q", url, str(dest))
    git.run("checkout", "-q", "-b", "issue-1", cwd=dest)
    git.commit_file(dest, "NOTES.md", "notes\n", "Fix: Resolve issue #1 - notes")
    return git, dest
