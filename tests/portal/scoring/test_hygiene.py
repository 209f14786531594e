"""Git-hygiene findings on real bare repositories built in tmp_path."""

from __future__ import annotations

import pytest

from portal.scoring.hygiene import (
    ANALYSIS_CAPPED,
    AUTHOR_IDENTITY,
    BRANCH_DELETED,
    BRANCH_NAMING,
    COMMIT_MESSAGE,
    COMMIT_ON_MAIN,
    COMMIT_WRONG_TICKET,
    HISTORY_REWRITTEN,
    INFO,
    JUNK_COMMITTED,
    MERGE_COMMIT,
    PROBLEM,
    SCOPE_CREEP,
    TESTS_ADDED,
    TICKET_WITHOUT_BRANCH,
    UNRELATED_HISTORY,
    VISIBLE_TESTS_CHANGED,
    WARNING,
    Finding,
    RefUpdateInfo,
    hygiene_findings,
    subject_ticket,
)
from tests.portal.scoring.conftest import VISIBLE_TESTS, Workbench

MIB = 1024 * 1024


def findings(bench: Workbench, **overrides) -> list[Finding]:
    arguments = {
        "repo_path": bench.origin,
        "base": bench.base,
        "branches": bench.heads(),
        "tickets": [1, 2, 3],
        "visible_test_paths": VISIBLE_TESTS,
        **overrides,
    }
    return hygiene_findings(**arguments)


def of_kind(found: list[Finding], kind: str) -> list[Finding]:
    return [finding for finding in found if finding.kind == kind]


def test_a_tidy_repository_has_no_findings(bench):
    for ticket in (1, 2, 3):
        bench.fix(ticket)

    assert findings(bench) == []


# --- Branch naming -----------------------------------------------------------------------------------


def test_a_branch_not_named_issue_n_is_reported(bench):
    bench.fix(1)
    bench.branch("fix-login")
    head = bench.commit("Fix: Resolve issue #2 - login", {"app/login.py": "X = 1\n"})
    bench.push("fix-login")

    [finding] = of_kind(findings(bench, tickets=[1]), BRANCH_NAMING)

    assert finding.severity == WARNING
    assert finding.ref == "refs/heads/fix-login"
    assert finding.message == "fix-login is not named issue-<n>."
    assert finding.commits == (head,)


def test_an_issue_branch_for_a_ticket_the_assessment_lacks_is_reported(bench):
    bench.fix(9)

    [finding] = of_kind(findings(bench, tickets=[1]), BRANCH_NAMING)

    assert finding.ref == "refs/heads/issue-9"
    assert "not a ticket of this assessment" in finding.message


def test_a_ticket_without_an_issue_branch_is_reported_as_info(bench):
    bench.fix(1)

    missing = of_kind(findings(bench), TICKET_WITHOUT_BRANCH)

    assert [finding.ticket for finding in missing] == [2, 3]
    assert {finding.severity for finding in missing} == {INFO}
    assert missing[0].message == "There is no branch issue-2 for ticket #2."
    assert of_kind(findings(bench), BRANCH_NAMING) == []


# --- Commit messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "ticket"),
    [
        ("Fix: Resolve issue #3 - handle overdue loans", 3),
        ("  Fix:  Resolve  issue #12 -  tidy up", 12),
        ("Fix: Resolve issue #3- tight dash", 3),
        ("Fixed: Resolve issue #3 - wording", None),
        ("fix: resolve issue #3 - lower case", None),
        ("Fix: Resolve issue 3 - no hash", None),
        ("Fix: Resolve issue #3 - ", None),
        ("wip", None),
    ],
)
def test_subjects_tolerate_whitespace_but_not_other_wording(subject, ticket):
    assert subject_ticket(subject) == ticket


def test_a_malformed_commit_subject_is_reported_with_its_sha_and_subject(bench):
    bench.branch("issue-1")
    good = bench.commit("Fix: Resolve issue #1 - first part", {"app/a.py": "A = 1\n"})
    wip = bench.commit("wip", {"app/a.py": "A = 2\n"})
    lazy = bench.commit("fixed the thing", {"app/a.py": "A = 3\n"})
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), COMMIT_MESSAGE)

    assert finding.severity == WARNING
    assert finding.ref == "refs/heads/issue-1"
    assert finding.commits == (wip, lazy)
    assert finding.lines == ("wip", "fixed the thing")
    assert good not in finding.commits


def test_a_commit_naming_another_ticket_is_reported_on_its_branch(bench):
    bench.branch("issue-2")
    wrong = bench.commit("Fix: Resolve issue #3 - wrong number", {"app/b.py": "B = 1\n"})
    bench.push("issue-2")

    found = findings(bench, tickets=[2])
    [finding] = of_kind(found, COMMIT_WRONG_TICKET)

    assert finding.ticket == 2
    assert finding.commits == (wrong,)
    assert "#3" in finding.message
    assert of_kind(found, COMMIT_MESSAGE) == []


def test_a_merge_commit_is_listed_as_info_and_not_held_to_the_subject_format(bench):
    bench.branch("side")
    bench.commit("Fix: Resolve issue #1 - second half", {"app/side.py": "S = 1\n"})
    bench.branch("issue-1", start="main")
    bench.commit("Fix: Resolve issue #1 - first half", {"app/first.py": "F = 1\n"})
    bench.git("merge", "-q", "--no-ff", "-m", "Merge branch 'side' into issue-1", "side")
    merge = bench.git("rev-parse", "HEAD")
    bench.push("issue-1")

    found = findings(bench, tickets=[1])
    [finding] = of_kind(found, MERGE_COMMIT)

    assert finding.severity == INFO
    assert finding.commits == (merge,)
    assert finding.lines == ("Merge branch 'side' into issue-1",)
    assert of_kind(found, COMMIT_MESSAGE) == []


def test_a_bad_commit_shared_by_two_branches_is_reported_once(bench):
    bench.branch("issue-1")
    wip = bench.commit("wip", {"app/a.py": "A = 1\n"})
    bench.push("issue-1")
    bench.branch("issue-2", start="issue-1")
    bench.commit("Fix: Resolve issue #2 - on top", {"app/b.py": "B = 1\n"})
    bench.push("issue-2")

    [finding] = of_kind(findings(bench, tickets=[1, 2]), COMMIT_MESSAGE)

    assert finding.ref == "refs/heads/issue-1"
    assert finding.commits == (wip,)


def test_an_analysis_again_works_only_on_the_branches_that_moved_and_finds_the_same(bench, monkeypatch):
    """Every run's analysis looks at every branch again. A branch whose head, starting point and own
    commits are the same as last time is not analysed again; one that moved is, and so is a branch
    whose own commits changed because a branch before it gained or lost the commits they share."""
    from portal.scoring import hygiene

    monkeypatch.setattr(hygiene, "_BRANCH_FINDINGS", hygiene.Memo(2048, budget=hygiene.MIB))
    monkeypatch.setattr(hygiene, "_HISTORIES", hygiene.Memo(256, budget=hygiene.MIB))
    analysed = []
    branch_findings = hygiene._branch_findings
    monkeypatch.setattr(
        hygiene,
        "_branch_findings",
        lambda repo, name, *rest: analysed.append(name) or branch_findings(repo, name, *rest),
    )
    bench.branch("issue-2")
    wip = bench.commit("wip", {"app/a.py": "A = 1\n"})
    bench.push("issue-2")
    bench.branch("issue-3", start="issue-2")
    bench.commit("Fix: Resolve issue #3 - on top", {"app/b.py": "B = 1\n", "id_rsa": "-----BEGIN KEY-----\n"})
    bench.push("issue-3")

    first = findings(bench, tickets=[2, 3])
    assert sorted(analysed) == ["issue-2", "issue-3", "main"]
    assert [f.ref for f in of_kind(first, COMMIT_MESSAGE)] == ["refs/heads/issue-2"]
    assert [f.ref for f in of_kind(first, JUNK_COMMITTED)] == ["refs/heads/issue-3"]

    analysed.clear()
    assert findings(bench, tickets=[2, 3]) == first
    assert analysed == []

    # issue-3 moves: only it is analysed again, and what it now has is found.
    bench.checkout("issue-3")
    bench.commit("also wip", {"app/c.py": "C = 1\n"})
    bench.push("issue-3")
    moved = findings(bench, tickets=[2, 3])
    assert analysed == ["issue-3"]
    assert {f.ref: f.lines for f in of_kind(moved, COMMIT_MESSAGE)} == {
        "refs/heads/issue-2": ("wip",),
        "refs/heads/issue-3": ("also wip",),
    }

    # issue-2 is deleted: issue-3's own commits now include "wip", so issue-3 is analysed again
    # and the shared commit is reported on it, where it now is.
    analysed.clear()
    bench.delete("issue-2")
    alone = findings(bench, tickets=[2, 3])
    assert analysed == ["issue-3"]
    [finding] = of_kind(alone, COMMIT_MESSAGE)
    assert finding.ref == "refs/heads/issue-3" and wip in finding.commits


def test_the_branches_analysed_are_kept_within_bounds(bench, monkeypatch):
    from portal.scoring import hygiene

    monkeypatch.setattr(hygiene, "_BRANCH_FINDINGS", hygiene.Memo(2, budget=hygiene.MIB))
    monkeypatch.setattr(hygiene, "_HISTORIES", hygiene.Memo(2, budget=hygiene.MIB))
    for ticket in (1, 2, 3):
        bench.fix(ticket)
    findings(bench)  # main, then issue-1, issue-2 and issue-3
    assert [key[1] for key in hygiene._BRANCH_FINDINGS.entries()] == ["issue-2", "issue-3"]
    assert len(hygiene._HISTORIES.entries()) == 2


# --- Commits on main ---------------------------------------------------------------------------------


def test_commits_made_directly_on_main_are_reported(bench):
    direct = bench.commit("Fix: Resolve issue #1 - straight on main", {"app/a.py": "A = 1\n"})
    bench.push("main")

    found = findings(bench, tickets=[1])
    [finding] = of_kind(found, COMMIT_ON_MAIN)

    assert finding.severity == WARNING
    assert finding.ref == "refs/heads/main"
    assert finding.commits == (direct,)
    assert finding.lines == ("Fix: Resolve issue #1 - straight on main",)


def test_main_at_the_template_commit_is_not_reported(bench):
    bench.fix(1)

    assert of_kind(findings(bench, tickets=[1]), COMMIT_ON_MAIN) == []


# --- Visible tests -----------------------------------------------------------------------------------


def test_visible_tests_modified_and_deleted_are_a_problem_with_paths_and_commits(bench):
    bench.branch("issue-1")
    bench.commit("Fix: Resolve issue #1 - code", {"app/books.py": "def list_books():\n    return [1]\n"})
    edit = bench.commit("Fix: Resolve issue #1 - tests", {"tests/test_books.py": "def test_books():\n    pass\n"})
    drop = bench.commit("Fix: Resolve issue #1 - cleanup", {"tests/test_loans.py": None})
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), VISIBLE_TESTS_CHANGED)

    assert finding.severity == PROBLEM
    assert finding.paths == ("tests/test_books.py", "tests/test_loans.py")
    assert finding.lines == (
        "tests/test_books.py::test_books: assertions removed or changed",
        "tests/test_loans.py: deleted",
    )
    assert finding.commits == (edit, drop)
    assert finding.ticket == 1


SHIPPED_BOOKS = "def test_books():\n    assert True\n"


def test_a_test_added_to_a_shipped_file_is_credited_and_not_a_problem(bench):
    added = "\n\ndef test_pages_do_not_overlap():\n    assert [1] != [2]\n"
    head = bench.fix(1, {"tests/test_books.py": SHIPPED_BOOKS + added})

    found = findings(bench, tickets=[1])

    assert of_kind(found, VISIBLE_TESTS_CHANGED) == []
    [credit] = of_kind(found, TESTS_ADDED)
    assert credit.severity == INFO
    assert credit.message == "issue-1 adds 1 test for #1 (tests/test_books.py::test_pages_do_not_overlap)."
    assert credit.lines == ("tests/test_books.py::test_pages_do_not_overlap",)
    assert credit.commits == (head,)


def test_changing_an_assertion_of_a_shipped_test_is_the_problem_naming_that_test(bench):
    head = bench.fix(2, {"tests/test_books.py": "def test_books():\n    assert False is False\n"})

    [finding] = of_kind(findings(bench, tickets=[2]), VISIBLE_TESTS_CHANGED)

    assert finding.severity == PROBLEM
    assert finding.message == (
        "issue-2 changes the assertions of tests/test_books.py::test_books shipped with the assessment."
    )
    assert finding.commits == (head,)
    assert of_kind(findings(bench, tickets=[2]), TESTS_ADDED) == []


def test_deleting_a_shipped_test_function_is_the_problem(bench):
    _ship(
        bench, {"tests/test_loans.py": "def test_books():\n    assert True\n\n\ndef test_loans():\n    assert True\n"}
    )
    bench.fix(3, {"tests/test_loans.py": "def test_loans():\n    assert True\n"})

    [finding] = of_kind(findings(bench, tickets=[3]), VISIBLE_TESTS_CHANGED)

    assert finding.message == "issue-3 deletes tests/test_loans.py::test_books shipped with the assessment."
    assert finding.lines == ("tests/test_loans.py::test_books: deleted",)


def test_renaming_a_shipped_test_is_the_problem(bench):
    bench.fix(1, {"tests/test_books.py": "def test_it():\n    assert True\n"})

    [finding] = of_kind(findings(bench, tickets=[1]), VISIBLE_TESTS_CHANGED)

    assert finding.lines == ("tests/test_books.py::test_books: renamed to tests/test_books.py::test_it",)
    assert of_kind(findings(bench, tickets=[1]), TESTS_ADDED) == []


def test_reformatting_a_shipped_test_file_is_nothing(bench):
    bench.fix(1, {"tests/test_books.py": "# Books.\n\n\ndef test_books(  ):\n    assert (True)  # still\n"})

    found = findings(bench, tickets=[1])

    assert of_kind(found, VISIBLE_TESTS_CHANGED) == [] and of_kind(found, TESTS_ADDED) == []


def _ship(bench, files: dict[str, str]) -> None:
    """Make ``files`` part of the starting point (a second template commit on main)."""
    bench.commit("Library: starting point, continued", files, author=("Assessment Portal", "portal@example.com"))
    bench.push("main")
    bench.base = bench.heads()["main"]


def test_changing_a_shipped_fixture_is_the_problem_and_adding_one_is_not(bench):
    fixture = "import pytest\n\n\n@pytest.fixture\ndef client():\n    return {}\n"
    _ship(bench, {"tests/conftest.py": fixture})
    bench.fix(1, {"tests/conftest.py": fixture + "\n\n@pytest.fixture\ndef book():\n    return 1\n"})
    bench.fix(2, {"tests/conftest.py": fixture.replace("{}", "{'always': 'pass'}")})

    [finding] = of_kind(findings(bench, tickets=[1, 2]), VISIBLE_TESTS_CHANGED)

    assert finding.ref == "refs/heads/issue-2"
    assert finding.message == "issue-2 changes tests/conftest.py::client shipped with the assessment."


def test_a_shipped_file_that_no_longer_parses_is_judged_as_a_whole_with_a_note(bench):
    bench.fix(1, {"tests/test_books.py": "def test_books(:\n"})

    [finding] = of_kind(findings(bench, tickets=[1]), VISIBLE_TESTS_CHANGED)

    assert finding.message == (
        "issue-1 modifies tests/test_books.py shipped with the assessment "
        "(tests/test_books.py does not parse as Python, so it was compared as a whole file)."
    )


def test_a_new_test_file_is_credited(bench):
    new = "def test_new():\n    assert 1\n\n\nclass TestMore:\n    def test_more(self):\n        assert 2\n"
    bench.fix(1, {"tests/test_new.py": new})

    found = findings(bench, tickets=[1])

    assert of_kind(found, VISIBLE_TESTS_CHANGED) == []
    [credit] = of_kind(found, TESTS_ADDED)
    assert credit.message == (
        "issue-1 adds 2 tests for #1 (tests/test_new.py::TestMore::test_more, tests/test_new.py::test_new)."
    )
    assert credit.paths == ("tests/test_new.py",)


def test_a_branch_not_for_a_ticket_gets_credit_without_a_ticket(bench):
    bench.branch("extra-tests")
    bench.commit("Fix: Resolve issue #1 - tests", {"tests/test_new.py": "def test_new():\n    assert 1\n"})
    bench.push("extra-tests")

    [credit] = of_kind(findings(bench, tickets=[1]), TESTS_ADDED)

    assert credit.message == "extra-tests adds 1 test (tests/test_new.py::test_new)."
    assert credit.ticket is None


def test_a_visible_test_outside_tests_is_watched_too(bench):
    bench.fix(1, {"README.md": "# Changed\n"})

    [finding] = of_kind(findings(bench, tickets=[1], visible_test_paths=["README.md"]), VISIBLE_TESTS_CHANGED)

    assert finding.paths == ("README.md",)


# --- Junk --------------------------------------------------------------------------------------------

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("files", "severity", "what", "paths"),
    [
        (
            {".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/lib/python3.11/site-packages/x.py": "X = 1\n"},
            WARNING,
            "a virtualenv (2 files)",
            (".venv/",),
        ),
        ({"app/__pycache__/x.cpython-311.pyc": b"\x00\x01pyc"}, WARNING, "caches", ("app/__pycache__/",)),
        ({"data.db": b"SQLite format 3\x00"}, WARNING, "database files", ("data.db",)),
        ({"assets/blob.bin": b"\x00" * (2 * MIB)}, WARNING, "files over 1 MiB", ("assets/blob.bin",)),
        ({"assets/small.bin": b"\x00\xff" * (100 * 1024)}, WARNING, "binary files", ("assets/small.bin",)),
        ({"deploy/id_rsa": PRIVATE_KEY}, PROBLEM, "private keys", ("deploy/id_rsa",)),
        ({"app/keys.txt": "note\n" + PRIVATE_KEY}, PROBLEM, "private keys", ("app/keys.txt",)),
        ({".env": "DEBUG=1\n"}, PROBLEM, "private keys or credentials", (".env",)),
        ({"app/aws.py": 'KEY_ID = "AKIAABCDEFGHIJKLMNOP"\n'}, PROBLEM, "credentials", ("app/aws.py",)),
        ({"app/db.py": 'password = "hunter2hunter2"\n'}, WARNING, "hard-coded credentials", ("app/db.py",)),
    ],
    ids=["venv", "pycache", "sqlite", "2mib", "binary", "keyfile", "keytext", "dotenv", "aws", "password"],
)
def test_junk_is_reported_with_its_evidence(bench, files, severity, what, paths):
    bench.branch("issue-1")
    bench.commit("Fix: Resolve issue #1 - setup", {"app/ok.py": "OK = 1\n"})
    junk = bench.commit("Fix: Resolve issue #1 - oops", files)
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), JUNK_COMMITTED)

    assert finding.severity == severity
    assert what in finding.message
    assert finding.paths == paths
    assert finding.commits == (junk,)


def test_a_secret_found_by_content_is_cited_by_line_without_its_value(bench):
    bench.fix(1, {"app/db.py": 'HOST = "db"\npassword = "hunter2hunter2"\n'})

    [finding] = of_kind(findings(bench, tickets=[1]), JUNK_COMMITTED)

    assert finding.lines == ("app/db.py:2: a hard-coded credential",)
    assert "hunter2" not in repr(finding)


def test_ordinary_files_and_template_secrets_are_not_junk(bench):
    bench.fix(
        1,
        {
            "app/settings.py": 'DEBUG = True\npassword = "template-shipped-value"\n',
            ".env.example": "SECRET=\n",
            "app/logo.png": b"\x89PNG\x00" + b"\x01" * 1000,
            "app/service.py": "def serve():\n    return 'ok'\n",
        },
    )

    assert of_kind(findings(bench, tickets=[1]), JUNK_COMMITTED) == []


def test_junk_added_and_removed_again_on_the_branch_is_not_reported(bench):
    bench.branch("issue-1")
    bench.commit("Fix: Resolve issue #1 - oops", {"data.db": b"SQLite format 3\x00"})
    bench.commit("Fix: Resolve issue #1 - remove the database", {"data.db": None})
    bench.push("issue-1")

    assert of_kind(findings(bench, tickets=[1]), JUNK_COMMITTED) == []


def test_reading_blobs_is_capped_and_says_so(bench):
    bench.fix(1, {f"app/m{index}.py": f"M = {index}\n" for index in range(3)})

    found = findings(bench, tickets=[1], max_scanned_files=2)
    [finding] = of_kind(found, ANALYSIS_CAPPED)

    assert finding.ref == "refs/heads/issue-1"
    assert "2 scanned" in finding.message


# --- Author identity ---------------------------------------------------------------------------------


def test_an_author_with_a_default_identity_is_reported(bench):
    bench.branch("issue-1")
    bench.commit("Fix: Resolve issue #1 - good", {"app/a.py": "A = 1\n"})
    root = bench.commit("Fix: Resolve issue #1 - as root", {"app/a.py": "A = 2\n"}, author=("root", "root@localhost"))
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), AUTHOR_IDENTITY)

    assert finding.severity == WARNING
    assert finding.commits == (root,)
    assert finding.lines == ("root <root@localhost>",)
    assert "default machine email" in finding.message


@pytest.mark.parametrize("email", ["ann@ann-laptop.local", "ann@host.(none)", "ann"])
def test_other_unusable_author_emails_are_reported(bench, email):
    bench.fix(1, push=False)
    bench.checkout("issue-1")
    odd = bench.commit("Fix: Resolve issue #1 - more", {"app/a.py": "A = 1\n"}, author=("Ann", email))
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), AUTHOR_IDENTITY)

    assert finding.commits == (odd,)


# --- Pushes that rewrite history ---------------------------------------------------------------------


def test_a_force_push_is_reported_with_the_commits_it_dropped(bench):
    bench.branch("issue-1")
    kept = bench.commit("Fix: Resolve issue #1 - keep", {"app/a.py": "A = 1\n"})
    lost = bench.commit("Fix: Resolve issue #1 - lose", {"app/a.py": "A = 2\n"})
    bench.push("issue-1")
    bench.git("reset", "-q", "--hard", kept)
    new = bench.commit("Fix: Resolve issue #1 - redo", {"app/a.py": "A = 3\n"})
    bench.push("issue-1", force=True)
    updates = [
        RefUpdateInfo("refs/heads/issue-1", "0" * 40, lost, "created"),
        RefUpdateInfo("refs/heads/issue-1", lost, new, "forced"),
    ]

    [finding] = of_kind(findings(bench, tickets=[1], ref_updates=updates), HISTORY_REWRITTEN)

    assert finding.severity == WARNING
    assert finding.commits == (lost,)
    assert finding.lines == (f"{lost} -> {new}", "Fix: Resolve issue #1 - lose")
    assert "dropping 1 commit" in finding.message


def test_fast_forward_pushes_rewrite_nothing(bench):
    bench.branch("issue-1")
    first = bench.commit("Fix: Resolve issue #1 - one", {"app/a.py": "A = 1\n"})
    bench.push("issue-1")
    second = bench.commit("Fix: Resolve issue #1 - two", {"app/a.py": "A = 2\n"})
    bench.push("issue-1")
    updates = [
        RefUpdateInfo("refs/heads/issue-1", "0" * 40, first, "created"),
        RefUpdateInfo("refs/heads/issue-1", first, second, "updated"),
    ]

    found = findings(bench, tickets=[1], ref_updates=updates)

    assert of_kind(found, HISTORY_REWRITTEN) == []
    assert of_kind(found, BRANCH_DELETED) == []


def test_a_deleted_branch_is_info_naming_the_commits_on_no_other_branch(bench):
    bench.fix(1)
    bench.branch("experiment")
    orphaned = bench.commit("Fix: Resolve issue #1 - idea", {"app/idea.py": "I = 1\n"})
    bench.push("experiment")
    bench.delete("experiment")
    updates = [RefUpdateInfo("refs/heads/experiment", orphaned, "0" * 40, "deleted")]

    [finding] = of_kind(findings(bench, tickets=[1], ref_updates=updates), BRANCH_DELETED)

    assert finding.severity == INFO
    assert finding.ref == "refs/heads/experiment"
    assert finding.commits == (orphaned,)


def test_a_force_push_whose_old_commits_are_gone_still_reports(bench):
    head = bench.fix(1)
    updates = [RefUpdateInfo("refs/heads/issue-1", "f" * 40, head, "forced")]

    [finding] = of_kind(findings(bench, tickets=[1], ref_updates=updates), HISTORY_REWRITTEN)

    assert finding.commits == ()
    assert "no longer in the repository" in finding.message


# --- Scope creep, history shape, caps, order ---------------------------------------------------------


def test_scope_creep_is_passed_through_as_one_finding_per_other_ticket(bench):
    bench.fix(2)

    found = of_kind(findings(bench, tickets=[2], scope_creep={"issue-2": [5, 3, 5]}), SCOPE_CREEP)

    assert [finding.ticket for finding in found] == [3, 5]
    assert found[1].message == "issue-2 also changes the result of ticket #5."
    assert {finding.ref for finding in found} == {"refs/heads/issue-2"}


def test_no_scope_creep_input_gives_no_scope_creep_finding(bench):
    bench.fix(2)

    assert of_kind(findings(bench, tickets=[2], scope_creep={"issue-2": []}), SCOPE_CREEP) == []


def test_a_branch_that_does_not_descend_from_the_template_is_reported(bench):
    bench.git("checkout", "-q", "--orphan", "issue-1")
    orphan = bench.commit("Fix: Resolve issue #1 - from scratch", {"app/a.py": "A = 1\n"})
    bench.push("issue-1")

    [finding] = of_kind(findings(bench, tickets=[1]), UNRELATED_HISTORY)

    assert finding.ref == "refs/heads/issue-1"
    assert finding.commits == (orphan,)


def test_the_commit_walk_is_capped_and_says_so(bench):
    bench.branch("issue-1")
    for number in range(3):
        bench.commit(f"step {number}", {"app/a.py": f"A = {number}\n"})
    bench.push("issue-1")

    found = findings(bench, tickets=[1], max_commits=2)

    [capped] = of_kind(found, ANALYSIS_CAPPED)
    assert "only the newest 2" in capped.message
    assert of_kind(found, COMMIT_MESSAGE)[0].lines == ("step 1", "step 2")


def test_findings_are_sorted_and_repeatable(bench):
    bench.commit("wip on main", {"app/a.py": "A = 1\n"})
    bench.push("main")
    bench.branch("fix-stuff")
    bench.commit("stuff", {"data.db": b"x"})
    bench.push("fix-stuff")

    first = findings(bench)

    assert first == findings(bench)
    assert [finding.ref or "" for finding in first] == sorted(finding.ref or "" for finding in first)
    assert {finding.kind for finding in first} >= {TICKET_WITHOUT_BRANCH, BRANCH_NAMING, COMMIT_ON_MAIN}
