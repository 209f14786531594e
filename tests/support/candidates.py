"""Make candidate commits in an invite's repository and score them, as a push would."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitplumbing import ZERO_SHA
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from tests.support.factories import record_push
from tests.support.git import GitClient


def candidate_commit(
    invite: Invite,
    work: Path,
    *,
    branch: str,
    changes: dict[str, str | None] | None = None,
    patch: Path | None = None,
    message: str = "Fix: Resolve issue #1 - change",
) -> str:
    """Commit ``changes`` (path -> content, None deletes) and/or ``patch`` on ``branch``; push it.

    The push goes straight into the bare repository (its hooks run), then is recorded and handed
    to scoring as the git view would (tests.support.factories.record_push); nothing is scored
    until the test runs the queued work (factories.score_all) or a worker does.
    """
    git = GitClient(work.parent / f"home-{work.name}")
    repo = repository_path(invite)
    if not work.exists():
        git.run("clone", "-q", str(repo), str(work))
    git.run("checkout", "-q", "-B", branch, "origin/main", cwd=work)
    if patch is not None:
        git.run("apply", str(patch), cwd=work)
    for name, content in (changes or {}).items():
        path = work / name
        if content is None:
            subprocess.run(["git", "rm", "-q", "-r", name], cwd=work, check=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "--allow-empty", "-m", message, cwd=work)
    ref = f"refs/heads/{branch}"
    old = git.run("rev-parse", "--verify", "-q", ref, cwd=repo, check=False).stdout.strip() or ZERO_SHA
    git.run("push", "-q", "--force", "origin", f"HEAD:{ref}", cwd=work)
    new = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    record_push(invite, [(old, new, ref)])
    return new


def push_reference_fix(server_url: str, created, number: int, work: Path, git: GitClient | None = None) -> str:
    """Clone the invite over HTTP (once), commit ticket ``number``'s reference fix on issue-<n>, push it.

    ``created`` is the InviteCreated with the credentials; returns the pushed commit.
    """
    from tests.conftest import ROOT
    from tests.support.git import remote_url

    git = git or GitClient(work.parent / f"home-{work.name}")
    invite = created.invite
    if not work.exists():
        git.run("clone", "-q", remote_url(server_url, invite.public_id, invite.public_id, created.git_token), str(work))
    git.run("checkout", "-q", "-B", f"issue-{number}", "origin/main", cwd=work)
    git.run("apply", str(ROOT / "assessment_app" / "reference" / f"ticket-{number}.patch"), cwd=work)
    git.run("commit", "-q", "-am", f"Fix: Resolve issue #{number} - reference fix", cwd=work)
    git.run("push", "-q", "origin", f"issue-{number}", cwd=work)
    return git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
