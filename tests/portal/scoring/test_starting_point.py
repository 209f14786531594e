"""The starting point is the portal's own commit, whatever history a candidate pushes.

The attack: make a root commit of your own (with the visible tests weakened), merge it into main
(a fast-forward: the portal's commit is one of the parents) and work from there. If the analysis
took a merge base or a root commit found in the history as the starting point, the portal's own
commit would be blamed on the candidate, every ticket would show scope creep, and the changed
visible test would go unreported.
"""

import pytest

from gitplumbing import ZERO_SHA
from portal.hosting.services import repository_path
from portal.scoring.hygiene import PROBLEM, SCOPE_CREEP, UNRELATED_HISTORY, VISIBLE_TESTS_CHANGED
from portal.scoring.models import BranchEvidence
from tests.support.factories import record_push, store_verdicts
from tests.support.git import GitClient

WEAKENED = "def test_everything():\n    assert True\n"


@pytest.fixture
def git(tmp_path) -> GitClient:
    return GitClient(tmp_path / "home")


def _push(git, work, invite, *refs: str) -> None:
    """Push ``refs`` (branch names) into the invite's repository, as the git view would record them."""
    repo = repository_path(invite)
    updates = []
    for name in refs:
        ref = f"refs/heads/{name}"
        old = git.run("rev-parse", "--verify", "-q", ref, cwd=repo, check=False).stdout.strip() or ZERO_SHA
        new = git.run("rev-parse", name, cwd=work).stdout.strip()
        updates.append((old, new, ref))
    git.run("push", "-q", "origin", *refs, cwd=work)
    record_push(invite, updates)


@pytest.fixture(params=["portal commit first", "own root first"])
def merged(request, git, invite, tmp_path):
    """main fast-forwarded to a merge of the starting point with a root of the candidate's own, whose
    tree (the merge's) weakens a visible test; issue-2 is a real fix on top. Returns the root's id.

    Either parent order: "git merge own-root" on main, or "git merge main" on the root."""
    work = tmp_path / "work"
    git.run("clone", "-q", str(repository_path(invite)), str(work))
    git.run("checkout", "-q", "--orphan", "own-root", cwd=work)
    (work / "tests" / "test_books.py").write_text(WEAKENED)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "Fix: Resolve issue #1 - start over", cwd=work)
    root = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    tree = git.run("rev-parse", "HEAD^{tree}", cwd=work).stdout.strip()
    parents = ["origin/main", root] if request.param == "portal commit first" else [root, "origin/main"]
    merge = git.run(
        "commit-tree", tree, "-p", parents[0], "-p", parents[1], "-m", "Merge own root", cwd=work
    ).stdout.strip()
    git.run("checkout", "-q", "-B", "main", merge, cwd=work)
    _push(git, work, invite, "main")
    git.run("checkout", "-q", "-b", "issue-2", cwd=work)
    git.commit_file(work, "app/notes.py", "NOTE = 1\n", "Fix: Resolve issue #2 - notes")
    _push(git, work, invite, "issue-2")
    store_verdicts(invite, passing=frozenset({1}))
    invite.analysis.refresh_from_db()
    return root


def _findings(invite, kind: str) -> list[dict]:
    return [f for f in invite.analysis.result["findings"] if f["kind"] == kind]


@pytest.mark.django_db
def test_a_merged_foreign_root_is_a_problem_naming_that_root(merged, invite):
    found = {f["ref"]: f for f in _findings(invite, UNRELATED_HISTORY)}

    assert set(found) == {"refs/heads/main", "refs/heads/issue-2"}
    assert {f["severity"] for f in found.values()} == {PROBLEM}
    assert found["refs/heads/main"]["commits"] == [merged]
    assert "history unrelated to the starting point" in found["refs/heads/main"]["message"]


@pytest.mark.django_db
def test_the_analysis_still_compares_with_the_portals_commit(merged, invite):
    base = invite.repository.base_commit

    assert invite.analysis.result["base"] == base
    assert invite.analysis.result["baseline"] is not None
    for evidence in BranchEvidence.objects.filter(invite=invite):
        assert evidence.base == base
        assert base not in [c["sha"] for c in evidence.commits]
    assert merged in [c["sha"] for c in BranchEvidence.objects.get(invite=invite, branch="main").commits]


@pytest.mark.django_db
def test_no_ticket_shows_scope_creep_from_the_foreign_root(merged, invite):
    assert _findings(invite, SCOPE_CREEP) == []
    assert all(branch["other_tickets_changed"] == [] for branch in invite.analysis.result["branches"])


@pytest.mark.django_db
def test_the_visible_test_the_foreign_root_changed_is_reported(merged, invite):
    found = {f["ref"]: f for f in _findings(invite, VISIBLE_TESTS_CHANGED)}

    assert "tests/test_books.py" in found["refs/heads/main"]["paths"]
    main = BranchEvidence.objects.get(invite=invite, branch="main")
    assert {"path": "tests/test_books.py", "change": "modified"}.items() <= main.visible_test_changes[0].items()
