"""Hidden and visible tests disagreeing on one commit: found from real runs and shown on the report."""

from django.urls import reverse

from portal.reviews.selectors import rubric_suggestions
from portal.scoring.analysis import VISIBLE_HIDDEN_DISAGREE, visible_failed
from portal.scoring.hygiene import VISIBLE_TESTS_CHANGED
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_all

PACKAGE = ROOT / "assessment_app"
SHIPPED_BOOKS = (PACKAGE / "project" / "tests" / "test_books.py").read_text()
MISSING_BOOK = "tests/test_books.py::test_missing_book_is_not_found"
ASSERTION = '    response = client.get("/books/987654321")\n\n    assert response.status_code == 404\n'


def _report(client, reviewer, invite) -> str:
    client.force_login(reviewer)
    response = client.get(reverse("invite_result", args=[invite.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_hidden_passing_while_the_own_test_fails_and_the_reverse_are_shown_on_the_report(
    client, reviewer, invite, tmp_path
):
    assert ASSERTION in SHIPPED_BOOKS
    # Fixed for ticket 2 by the reference patch, but its visible test now expects another status.
    fixed = candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        patch=PACKAGE / "reference" / "ticket-2.patch",
        changes={"tests/test_books.py": SHIPPED_BOOKS.replace("== 404\n", "== 410\n")},
        message="Fix: Resolve issue #2 - missing books",
    )
    # Not fixed, but its visible test no longer checks anything.
    unfixed = candidate_commit(
        invite,
        tmp_path / "work",
        branch="topic-2",
        changes={"tests/test_books.py": SHIPPED_BOOKS.replace(ASSERTION, "    assert client is not None\n")},
        message="Fix: Resolve issue #2 - quicker",
    )
    result = score_all(invite)

    fixed_run = Run.objects.get(invite=invite, commit=fixed)
    assert fixed_run.verdicts.get(ticket=2).passed
    assert any(visible_failed(MISSING_BOOK, [test_id]) for test_id in fixed_run.visible["failed"])
    assert not Run.objects.get(invite=invite, commit=unfixed).verdicts.get(ticket=2).passed
    found = {f.ref: f for f in result.findings if f.kind == VISIBLE_HIDDEN_DISAGREE}
    assert set(found) == {"refs/heads/issue-2", "refs/heads/topic-2"}
    forward, reverse_ = found["refs/heads/issue-2"], found["refs/heads/topic-2"]
    assert forward.message == (
        f"#2: the hidden tests pass on issue-2 but the candidate's own test {MISSING_BOOK} fails "
        f"on the same commit ({fixed[:7]})."
    )
    assert reverse_.message == (
        f"#2: the hidden tests fail on topic-2 but the candidate's own test {MISSING_BOOK} passes "
        f"on the same commit ({unfixed[:7]})."
    )
    assert (forward.severity, forward.ticket, forward.commits) == ("warning", 2, (fixed,))

    # Ticket 2 is contested on issue-2: its points wait for a reviewer; topic-2 is no ticket's branch.
    [ticket] = [t for t in result.tickets if t.number == 2]
    assert ticket.passed and ticket.waiting and ticket.earned == 0
    assert (ticket.contested.branch, ticket.contested.head) == ("issue-2", fixed)
    assert [(t.name, t.outcome) for t in ticket.contested.visible] == [(MISSING_BOOK, "failed")]
    assert ticket.contested.hidden and {t.outcome for t in ticket.contested.hidden} == {"passed"}
    assert (result.total, result.contested_points, result.contested_tickets) == (0, ticket.points, [ticket])

    page = _report(client, reviewer, invite)
    assert 'id="contested-2"' in page and "waiting for a decision" in page
    shown = page[page.index('id="disagreements"') :]
    assert forward.message.replace("'", "&#x27;") in shown
    assert reverse_.message.replace("'", "&#x27;") in shown
    # The edited assertion is the hygiene problem, named by test.
    [changed] = [f for f in result.findings if f.kind == VISIBLE_TESTS_CHANGED and f.ref == "refs/heads/issue-2"]
    assert changed.message == f"issue-2 changes the assertions of {MISSING_BOOK} shipped with the assessment."
    # A disagreement is not a git-hygiene warning: the version-control suggestion does not count it.
    warnings = sum(f.severity == "warning" for f in result.hygiene_findings)
    assert f"{warnings} warning" in rubric_suggestions(invite=invite)["version_control"].reason
    assert warnings == sum(f.severity == "warning" for f in result.findings) - 2


def test_no_disagreement_where_the_hidden_and_own_tests_agree(invite, tmp_path):
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        patch=PACKAGE / "reference" / "ticket-2.patch",
        message="Fix: Resolve issue #2 - missing books",
    )
    result = score_all(invite)

    assert result.branches[1].cells[2].passed
    assert [f for f in result.findings if f.kind == VISIBLE_HIDDEN_DISAGREE] == []
    assert result.contested_tickets == [] and result.total == 15


def test_junit_ids_of_the_visible_run_match_the_manifests_ids():
    assert visible_failed(MISSING_BOOK, [MISSING_BOOK])
    assert visible_failed(MISSING_BOOK, [MISSING_BOOK + "[param-1]"])  # a parametrised case
    assert visible_failed(MISSING_BOOK, ["tests/test_books.py::tests.test_books"])  # the file did not collect
    assert visible_failed("tests/test_books.py::TestBooks::test_x", ["tests/test_books/TestBooks.py::test_x"])
    assert not visible_failed(MISSING_BOOK, ["tests/test_books.py::test_missing_book_is_not_found_either"])
    assert not visible_failed(MISSING_BOOK, ["tests/test_loans.py::test_missing_book_is_not_found"])


def test_the_tests_a_head_defines_are_read_once_and_a_new_head_anew(tmp_path, monkeypatch):
    """Every analysis asks, for every branch head, which of the manifest's visible tests it still
    defines: a head's files never change, so they are read once per worker process."""
    import subprocess

    from grader.manifest import load_manifest
    from portal.core.memo import Memo
    from portal.scoring import analysis

    monkeypatch.setattr(analysis, "_PRESENT", Memo(1024, budget=1024 * 1024))
    read = []
    tests_defined = analysis._tests_defined
    monkeypatch.setattr(analysis, "_tests_defined", lambda *args: read.append(args[1]) or tests_defined(*args))
    work, origin = tmp_path / "work", tmp_path / "origin.git"
    subprocess.run(["cp", "-r", str(PACKAGE / "project"), str(work)], check=True)

    def git(*args: str) -> str:
        identity = ["-c", "user.name=Candidate", "-c", "user.email=candidate@example.org"]
        done = subprocess.run(["git", *identity, *args], cwd=work, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "start")
    start = git("rev-parse", "HEAD")
    (work / "tests" / "test_books.py").write_text(
        SHIPPED_BOOKS.replace("def test_missing_book_is_not_found", "def _gone")
    )
    git("commit", "-q", "-am", "Fix: Resolve issue #2 - without its test")
    without = git("rev-parse", "HEAD")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(origin)], check=True)
    manifest = load_manifest(PACKAGE)

    first = analysis._present_tests(origin, start, manifest)
    assert MISSING_BOOK in first and analysis._present_tests(origin, start, manifest) == first
    assert read == [start]
    later = analysis._present_tests(origin, without, manifest)
    assert MISSING_BOOK not in later and later == first - {MISSING_BOOK}
    assert read == [start, without]
