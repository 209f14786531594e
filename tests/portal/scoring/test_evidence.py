"""The evidence the analysis worker stores per branch head: commits, diff, test files changed, force-pushes."""

import gitplumbing
from gitplumbing import ZERO_SHA
from portal.hosting.services import repository_path
from portal.scoring import analysis
from portal.scoring.models import BranchEvidence, InviteAnalysis
from portal.scoring.services import analysis_request
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import record_push, store_verdicts


def commit_files(invite, branch: str, files: dict[str, bytes], message="Change") -> str:
    """A commit of raw ``files`` on the starting point, pushed as ``branch`` and recorded."""
    path = repository_path(invite)
    parent = invite.repository.base_commit
    env = {"GIT_INDEX_FILE": str(path / f"test-index-{branch}"), **gitplumbing.identity_env("Ann Example", "a@x.io")}
    gitplumbing.run("read-tree", parent, git_dir=path, env=env)
    for name, data in files.items():
        blob = gitplumbing.text("hash-object", "-w", "--stdin", git_dir=path, input=data)
        gitplumbing.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", git_dir=path, env=env)
    tree = gitplumbing.text("write-tree", git_dir=path, env=env)
    commit = gitplumbing.text("commit-tree", tree, "-p", parent, "-m", message, git_dir=path, env=env)
    gitplumbing.update_refs(path, f"create refs/heads/{branch} {commit}\n")
    (path / f"test-index-{branch}").unlink()
    record_push(invite, [(ZERO_SHA, commit, f"refs/heads/{branch}")])
    return commit


def _analyse_again(invite):
    analysis_request(invite=invite)
    analysis.analysis_update(invite_id=invite.pk)


def test_shipped_visible_tests_changed_or_deleted_and_tests_added_are_recorded(invite, tmp_path):
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={
            "tests/test_books.py": "def test_books():\n    assert True\n",
            "tests/test_health.py": None,
            "tests/test_missing_books.py": "def test_missing():\n    assert 1\n",
            "app/pages.py": "PAGE = 10\n",
        },
    )
    store_verdicts(invite)
    row = BranchEvidence.objects.get(invite=invite, branch="issue-2")
    changes = {c["path"]: (c["change"], c["shipped"]) for c in row.visible_test_changes}
    assert changes == {
        "tests/test_books.py": ("modified", True),
        "tests/test_health.py": ("deleted", True),
        "tests/test_missing_books.py": ("added", False),
    }
    added = next(c for c in row.visible_test_changes if c["path"] == "tests/test_missing_books.py")
    assert (added["additions"], added["deletions"]) == (2, 0)
    assert row.base == invite.repository.base_commit
    assert {f["path"] for f in row.diff["files"]} == {*changes, "app/pages.py"}


def test_commits_are_stored_with_their_authors(invite, tmp_path):
    head = candidate_commit(
        invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "a\n"}, message="Fix the loans\n\nWhy: dates."
    )
    store_verdicts(invite)
    row = BranchEvidence.objects.get(invite=invite, branch="issue-1", head=head)
    [commit] = row.commits
    assert (commit["subject"], commit["body"], commit["sha"]) == ("Fix the loans", "Why: dates.", head)
    assert commit["author"] and "@" in commit["author_email"]
    assert not row.commits_capped


def test_evidence_is_read_once_per_head(invite, tmp_path, monkeypatch):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "a\n"})
    store_verdicts(invite)
    rows = {(r.branch, r.head): r.computed_at for r in BranchEvidence.objects.filter(invite=invite)}
    assert ("issue-1", first) in rows and ("main", invite.repository.base_commit) in rows

    reads = []
    real = analysis.diff_between
    monkeypatch.setattr(analysis, "diff_between", lambda *a, **kw: reads.append(a) or real(*a, **kw))
    _analyse_again(invite)
    assert reads == []
    assert {(r.branch, r.head): r.computed_at for r in BranchEvidence.objects.filter(invite=invite)} == rows

    second = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "b\n"})
    store_verdicts(invite)
    assert [a[2] for a in reads] == [second]  # only the new head is read; the old row stays
    assert BranchEvidence.objects.filter(invite=invite, branch="issue-1").count() == 2


def test_force_pushes_are_noted_per_branch(invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-3", changes={"a.txt": "a\n"})
    # Each commit starts again from main: the second push rewrites the branch.
    second = candidate_commit(invite, tmp_path / "work", branch="issue-3", changes={"a.txt": "b\n"})
    store_verdicts(invite)
    forced = InviteAnalysis.objects.get(invite=invite).result["force_pushes"]
    assert [(f["old"], f["new"]) for f in forced["issue-3"]] == [(first, second)]
    assert "main" not in forced


def test_a_huge_diff_is_stored_capped(invite):
    big = "".join(f"line {n}\n" for n in range(4_000)).encode()
    commit_files(invite, "issue-4", {"big0.txt": big, "big1.txt": big, "huge.txt": b"x" * 2_000_000 + b"\n"})
    store_verdicts(invite)
    diff = BranchEvidence.objects.get(invite=invite, branch="issue-4").diff
    assert diff["capped"]
    assert {f["path"]: f["shown"] for f in diff["files"]} == {"big0.txt": True, "big1.txt": False, "huge.txt": False}
    assert sum(len(h["lines"]) for f in diff["files"] for h in f["hunks"]) <= 5_000


def test_shipped_test_files_are_compared_test_by_test(invite, tmp_path):
    shipped = (ROOT / "assessment_app" / "project" / "tests" / "test_books.py").read_text()
    loans = (ROOT / "assessment_app" / "project" / "tests" / "test_loans.py").read_text()
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={
            "tests/test_books.py": shipped + "\n\ndef test_a_second_missing_book():\n    assert True\n",
            "tests/test_loans.py": loans.replace(
                "assert response.status_code == ", "assert response.status_code != ", 1
            ),
        },
    )
    store_verdicts(invite)
    row = BranchEvidence.objects.get(invite=invite, branch="issue-2")
    changes = {c["path"]: c for c in row.visible_test_changes}

    books, loans_change = changes["tests/test_books.py"], changes["tests/test_loans.py"]
    assert (books["change"], books["shipped"]) == ("modified", False)  # it only gains a test: credited
    assert books["tests_added"] == ["tests/test_books.py::test_a_second_missing_book"]
    assert books["tests_changed"] == []
    assert loans_change["shipped"] is True
    assert len(loans_change["tests_changed"]) == 1
    assert loans_change["tests_changed"][0].startswith("tests/test_loans.py::test_")


def test_a_shipped_test_extended_keeping_its_assertions_is_recorded_as_extended_not_changed(invite, tmp_path):
    shipped = (ROOT / "assessment_app" / "project" / "tests" / "test_books.py").read_text()
    original = "    assert response.status_code == 404\n"
    assert original in shipped
    extended = original + '    assert response.json()["detail"]\n'
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"tests/test_books.py": shipped.replace(original, extended)},
    )
    store_verdicts(invite)
    change = next(
        c
        for c in BranchEvidence.objects.get(invite=invite, branch="issue-2").visible_test_changes
        if c["path"] == "tests/test_books.py"
    )
    assert change["shipped"] is False
    assert change["tests_changed"] == [] and change["tests_added"] == []
    assert change["tests_extended"] == ["tests/test_books.py::test_missing_book_is_not_found"]
