"""The reviewer's report: why tickets fail, commits, highlighted changes, pull requests and the push
timeline, all read from what the worker stored (the page runs no git)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

import gitplumbing
from portal.hosting.pulls import pull_open
from portal.scoring.models import Run, TestResult
from portal.scoring.timeline_svg import Mark, timeline_svg
from tests.conftest import ROOT
from tests.portal.scoring.test_evidence import commit_files
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, push_branches, store_verdicts

HOSTILE = "<script>alert(1)</script>"


def _page(client, reviewer, invite, query="") -> str:
    client.force_login(reviewer)
    response = client.get(reverse("invite_result", args=[invite.public_id]) + query)
    assert response.status_code == 200
    return response.content.decode()


def _fail(run: Run, test_id: str, message: str, ticket: int = 2) -> None:
    TestResult.objects.create(run=run, test_id=test_id, ticket=ticket, outcome="failed", message=message)


def test_failing_hidden_tests_are_named_with_the_first_line_of_their_message(client, reviewer, invite, tmp_path):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-2", changes={"a.txt": "a\n"})
    store_verdicts(invite, passing=frozenset({1}))
    run = Run.objects.get(invite=invite, commit=head)
    _fail(run, "test_ticket_2.py::test_reading_a_missing_book", "AssertionError: 500: Internal\nassert 500 == 404")
    _fail(run, "test_ticket_2.py::TestBorrow::test_borrowing[7]", "E " + "x" * 1_000)
    _fail(run, "test_ticket_3.py::test_other_ticket", "not this ticket", ticket=3)
    page = _page(client, reviewer, invite)
    why = page[page.index('id="why-tickets-fail"') :]
    assert "<code>test_reading_a_missing_book</code>: AssertionError: 500: Internal" in why
    assert "assert 500 == 404" not in why  # the first line only
    assert "<code>test_borrowing[7]</code>" in why and "x" * 298 not in why and "x" * 297 + "…" in why
    assert "test_other_ticket" not in why.split("#3 ")[0]  # ticket 2 lists only its own tests
    assert "test_ticket_2.py" not in page
    hidden = (ROOT / "assessment_app" / "hidden_tests" / "test_ticket_2.py").read_text()
    body = [line.strip() for line in hidden.splitlines() if line.strip().startswith("assert")]
    assert body and not any(line in page for line in body)


def test_commits_show_authors_and_force_pushes_are_flagged(client, reviewer, invite, tmp_path):
    first = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "a\n"})
    second = candidate_commit(
        invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "b\n"}, message="Fix loans\n\nThe body."
    )
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    commits = page[page.index('id="commits"') : page.index('id="diffs"')]
    assert f'<code title="{second}">{second[:7]}</code>' in commits
    assert "<strong>Fix loans</strong>" in commits and "The body." in commits
    assert "&lt;" in commits and "@" in commits  # the author's address
    assert "force-pushed" in commits
    assert f"<code>{first[:7]}</code> &rarr; <code>{second[:7]}</code>" in commits


def test_test_files_changed_are_flagged_in_the_highlighted_diff(client, reviewer, invite, tmp_path):
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={
            "tests/test_books.py": "def test_books():\n    assert True  # always\n",
            "tests/test_pages.py": "def test_pages():\n    assert 1\n",
        },
    )
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    diffs = page[page.index('id="diffs"') : page.index('id="pull-requests"')]
    books = diffs[diffs.index('<code class="diff-path">tests/test_books.py') :]
    assert books.index("changes a shipped visible test") < books.index("</header>")
    pages = diffs[diffs.index('<code class="diff-path">tests/test_pages.py') :]
    assert pages.index("adds tests") < pages.index("</header>")
    assert '<span class="hl-k">def</span>' in diffs  # Python, highlighted


def test_hostile_names_and_lines_are_escaped_in_the_highlighted_diff(client, reviewer, invite):
    commit_files(
        invite,
        "issue-5",
        {
            f"app/{HOSTILE}.py": f"x = '{HOSTILE}'\n{HOSTILE}\n".encode(),
            f"notes-{HOSTILE}.unknownext": f"{HOSTILE}\n".encode(),
            "logo.png": b"\x89PNG\r\n\x1a\n\x00" + bytes(range(256)),
        },
        message=f"Fix {HOSTILE}",
    )
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    logo = page[page.index("logo.png") :]
    assert logo.index("Binary file, not shown.") < logo.index("</article>")


def test_a_capped_diff_names_the_files_not_shown(client, reviewer, invite):
    big = "".join(f"line {n}\n" for n in range(4_000)).encode()
    commit_files(invite, "issue-4", {"big0.txt": big, "big1.txt": big})
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    assert "The diff is large" in page
    big1 = page[page.index("big1.txt") :]
    assert big1.index("Not shown: too large for this page.") < big1.index("</article>")


def test_pull_requests_are_linked_with_their_descriptions_rendered_and_sanitised(client, reviewer, invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-2", changes={"a.txt": "a\n"})
    description = f"**Because** the row was missing.\n\n{HOSTILE}\n\n[x](javascript:alert(1))\n\nCloses #2"
    pull_open(invite=invite, branch="issue-2", title=f"Fix {HOSTILE}", description=description)
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    pulls = page[page.index('id="pull-requests"') :]
    assert reverse("invite_pulls_review", args=[invite.public_id]) in pulls
    assert "#1 Fix &lt;script&gt;" in pulls and "from issue-2, closes #2" in pulls
    assert "<strong>Because</strong> the row was missing." in pulls
    assert "<script" not in pulls and "javascript:" not in pulls


def test_the_timeline_plots_pushes_and_shows_the_matrix_after_one(client, reviewer, invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "a\n"})
    store_verdicts(invite, passing=frozenset({1}))
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"a.txt": "b\n"})
    store_verdicts(invite, passing=frozenset())
    page = _page(client, reviewer, invite)
    timeline = page[page.index('id="timeline"') :]
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart push-timeline" role="group"' in timeline
    assert timeline.count('<circle class="mark-some"') == 1 and timeline.count('<circle class="mark-zero"') == 1
    first_push = invite.pushes.order_by("at", "id").first()
    assert f'href="?at={first_push.pk}#timeline"' in timeline
    assert "not fixed on issue-1 (0/15)" in page.split('id="timeline"')[0]  # now
    then = _page(client, reviewer, invite, f"?at={first_push.pk}")
    assert "Tickets after the push of" in then
    assert "fixed on issue-1 (15/15)" in then.split('id="timeline"')[1]


@pytest.mark.parametrize("at", ["999999", "abc", "-1"])
def test_an_unknown_push_is_404(client, reviewer, invite, at):
    client.force_login(reviewer)
    assert client.get(reverse("invite_result", args=[invite.public_id]) + f"?at={at}").status_code == 404


def test_the_report_runs_no_git_once_analysed(client, reviewer, invite, tmp_path, monkeypatch):
    head = candidate_commit(invite, tmp_path / "work", branch="issue-2", changes={"app/x.py": "X = 1\n"})
    store_verdicts(invite)
    _fail(Run.objects.get(invite=invite, commit=head), "t.py::test_x", "boom")
    first = invite.pushes.first()

    def refuse(*args, **kwargs):
        raise AssertionError(f"git ran during the page view: {args}")

    monkeypatch.setattr(gitplumbing, "run", refuse)
    page = _page(client, reviewer, invite, f"?at={first.pk}")
    assert "app/x.py" in page and "<code>test_x</code>: boom" in page and "Tickets after the push of" in page


def test_the_report_queries_do_not_grow_with_branches(
    client, reviewer, assessment_version, django_assert_max_num_queries
):
    small, large = make_invite(assessment_version).invite, make_invite(assessment_version).invite
    push_branches(small, 3)
    push_branches(large, 30)
    store_verdicts(small)
    store_verdicts(large)
    client.force_login(reviewer)
    # 30, and the similar submissions section (portal/integrity): its matches and the other invites.
    with django_assert_max_num_queries(33) as small_queries:
        _page(client, reviewer, small)
    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        page = _page(client, reviewer, large)
    assert "topic-0029" in page


def test_the_timeline_picture_escapes_text():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    svg = timeline_svg(
        marks=[Mark(at=at, branch=HOSTILE, passed=1, total=6, label=f'"{HOSTILE}', href=f'?at=1"{HOSTILE}')],
        title=f"Pushes {HOSTILE}",
    )
    assert HOSTILE not in svg and '"<' not in svg
    assert svg.count("&lt;script&gt;") == 5  # title, row name (shortened), label, link and its name
    # Its marks are links: a group of named links, not an image (which may hold no controls).
    assert 'role="group"' in svg and "<title" in svg and 'aria-label="&quot;' in svg


def test_a_test_added_to_a_shipped_file_is_credited_on_the_report_not_flagged(client, reviewer, invite, tmp_path):
    shipped = (ROOT / "assessment_app" / "project" / "tests" / "test_books.py").read_text()
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"tests/test_books.py": shipped + "\n\ndef test_another_missing_book():\n    assert True\n"},
        message="Fix: Resolve issue #2 - a test",
    )
    store_verdicts(invite)
    page = _page(client, reviewer, invite)
    diffs = page[page.index('id="diffs"') : page.index('id="pull-requests"')]
    books = diffs[diffs.index('<code class="diff-path">tests/test_books.py') :]
    assert "adds tests" in books[: books.index("</header>")]
    assert "changes a shipped visible test" not in diffs
    assert "adds <code>tests/test_books.py::test_another_missing_book</code>" in diffs
    hygiene = page[page.index("<h2>Git hygiene</h2>") : page.index("<h2>Changes</h2>")]
    assert "issue-2 adds 1 test for #2 (tests/test_books.py::test_another_missing_book)." in hygiene
    assert "shipped with the assessment" not in hygiene
