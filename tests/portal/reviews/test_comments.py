"""Reviewers' comments on diff lines of the report: stored against the commit they were made on."""

from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.reviews.blind import alias
from portal.reviews.models import AssessmentReviewer, ReviewComment
from portal.reviews.services import ReviewRefused, comment_add, comment_delete
from portal.scoring.selectors import invite_evidence
from tests.portal.reviews.conftest import blind_leaks
from tests.support.candidates import candidate_commit
from tests.support.factories import store_verdicts

NOTES = "notes/review.txt"


def push_notes(invite: Invite, work: Path, text: str = "first line\nsecond line\n") -> str:
    """Push ``text`` as a new file on issue-1 and store its evidence, as the worker would; the head."""
    head = candidate_commit(invite, work, branch="issue-1", changes={NOTES: text})
    store_verdicts(invite)
    return head


def line_form(invite: Invite, **overrides) -> dict:
    """The fields of the Comment control on line 1 of the notes, as the report renders them."""
    issue = next(view for view in invite_evidence(invite=invite) if view.branch == "issue-1")
    fields = {"commit": issue.head, "branch": "issue-1", "path": NOTES, "side": "new", "line": "1", "body": "Why?"}
    return {**fields, **overrides}


@pytest.fixture
def pushed(invite, tmp_path) -> Invite:
    """``invite`` with a file pushed on issue-1 and its evidence stored, then submitted."""
    push_notes(invite, tmp_path / "work")
    return invite_submit(invite=invite)


def _add(client, invite, **overrides):
    return client.post(reverse("review_comment_add", args=[invite.public_id]), line_form(invite, **overrides))


def _report(client, invite) -> str:
    return client.get(reverse("invite_result", args=[invite.public_id])).content.decode()


def test_a_reviewer_comments_on_a_diff_line(client, reviewer, pushed):
    client.force_login(reviewer)
    response = _add(client, pushed, body="Why a text file?")
    comment = ReviewComment.objects.get()
    assert response.url.endswith(f"#comment-{comment.pk}")
    assert (comment.branch, comment.path, comment.side, comment.line) == ("issue-1", NOTES, "new", 1)
    assert comment.commit == line_form(pushed)["commit"] and not comment.shared
    html = _report(client, pushed)
    assert f'id="comment-{comment.pk}"' in html and "Why a text file?" in html
    assert 'name="body"' in html  # each line has its Comment control


def test_a_shared_comment_is_marked_so(client, reviewer, pushed):
    client.force_login(reviewer)
    _add(client, pushed, shared="yes")
    assert ReviewComment.objects.get().shared
    assert "shared with the candidate" in _report(client, pushed)


@pytest.mark.parametrize(
    "forged",
    [
        {"line": "99"},
        {"line": "-1"},
        {"line": "1.5"},
        {"line": ""},
        {"side": "old"},
        {"side": "both"},
        {"path": "notes/other.txt"},
        {"path": "../" + NOTES},
        {"branch": "main"},
        {"commit": "0" * 40},
        {"commit": "abc"},
    ],
)
def test_a_forged_line_path_or_commit_is_refused_and_nothing_is_stored(client, reviewer, pushed, forged):
    client.force_login(reviewer)
    response = _add(client, pushed, **forged)
    assert response.status_code == 302
    assert not ReviewComment.objects.exists()
    page = client.get(response.url).content.decode()
    assert "There is no such line in the changes; the comment was not saved." in page


def test_a_body_too_long_or_empty_is_refused(client, reviewer, pushed):
    client.force_login(reviewer)
    response = _add(client, pushed, body="x" * 5_001)
    assert "at most 5,000 are kept" in client.get(response.url).content.decode()
    response = _add(client, pushed, body="   ")
    assert "The comment is empty." in client.get(response.url).content.decode()
    assert not ReviewComment.objects.exists()
    _add(client, pushed, body="x" * 5_000)
    assert ReviewComment.objects.count() == 1


def test_another_reviewer_cannot_delete_my_comment(client, reviewer, second_reviewer, pushed):
    comment = comment_add(invite=pushed, author=reviewer, shared=False, **_fields(pushed))
    delete = reverse("review_comment_delete", args=[pushed.public_id, comment.pk])
    client.force_login(second_reviewer)
    assert f"{delete}" not in _report(client, pushed)  # no Delete button on others' comments
    client.post(delete)
    assert ReviewComment.objects.filter(pk=comment.pk).exists()
    with pytest.raises(ReviewRefused, match="Only the author"):
        comment_delete(comment=comment, user=second_reviewer)
    client.force_login(reviewer)
    client.post(delete)
    assert not ReviewComment.objects.filter(pk=comment.pk).exists()


def _fields(invite: Invite, **overrides) -> dict:
    form = line_form(invite, **overrides)
    return {key: form[key] for key in ("commit", "branch", "path", "side", "line", "body")}


def test_a_deleted_line_takes_a_comment_by_its_old_number(client, reviewer, invite, tmp_path):
    push_notes(invite, tmp_path / "work")
    # issue-2 deletes a shipped file: its line 1 exists on the old side only.
    candidate_commit(invite, tmp_path / "work", branch="issue-2", changes={"README.md": None})
    store_verdicts(invite)
    issue = next(view for view in invite_evidence(invite=invite) if view.branch == "issue-2")
    client.force_login(reviewer)
    form = {"commit": issue.head, "branch": "issue-2", "path": "README.md", "side": "old", "line": "1", "body": "Gone?"}
    client.post(reverse("review_comment_add", args=[invite.public_id]), form)
    comment = ReviewComment.objects.get()
    assert (comment.side, comment.line) == ("old", 1)
    assert "Gone?" in _report(client, invite)


def test_a_comment_stays_on_its_commit_after_the_branch_moves(client, reviewer, invite, tmp_path):
    first = push_notes(invite, tmp_path / "work")
    client.force_login(reviewer)
    _add(client, invite, body="About the first line.")
    second = push_notes(invite, tmp_path / "work", text="another first line\n")
    assert second != first
    comment = ReviewComment.objects.get()
    assert comment.commit == first
    html = _report(client, invite)
    earlier = html.index(f"On an earlier commit <code>{first[:7]}</code>")
    assert html.index("About the first line.") > earlier  # listed there, not under today's line 1
    assert "first line" in html[earlier:]  # with the line as it was


def test_a_hostile_body_is_escaped_on_the_report(client, reviewer, pushed):
    client.force_login(reviewer)
    _add(client, pushed, body="<script>alert(1)</script>\nsecond <b>line</b>")
    html = _report(client, pushed)
    assert "<script>alert(1)" not in html and "<b>line</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_anonymous_visitor_cannot_comment(client, pushed):
    response = _add(client, pushed)
    assert response.status_code == 302 and "/login" in response.url
    assert not ReviewComment.objects.exists()


def test_a_recruiter_without_the_reviewer_role_cannot_comment(client, recruiter, pushed):
    client.force_login(recruiter)
    assert _add(client, pushed).status_code == 403
    assert not ReviewComment.objects.exists()


def test_a_reviewer_the_assessment_does_not_name_is_refused(client, reviewer, second_reviewer, pushed):
    AssessmentReviewer.objects.create(assessment=pushed.assessment_version.assessment, user=second_reviewer)
    client.force_login(reviewer)
    assert _add(client, pushed).status_code == 403
    with pytest.raises(ReviewRefused, match="may not review"):
        comment_add(invite=pushed, author=reviewer, shared=False, **_fields(pushed))
    assert not ReviewComment.objects.exists()


def test_the_comment_form_needs_its_csrf_token(reviewer, pushed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert _add(client, pushed).status_code == 403
    assert not ReviewComment.objects.exists()


def test_a_blind_report_with_comments_names_no_candidate(client, reviewer, blind_invite):
    issue = next(view for view in invite_evidence(invite=blind_invite) if view.branch == "issue-1")
    body = "Zora Quill wrote this well; ask zora.quill@example.net about it."
    comment_add(
        invite=blind_invite,
        author=reviewer,
        commit=issue.head,
        branch="issue-1",
        path="NOTES.md",
        side="new",
        line=1,
        body=body,
        shared=True,
    )
    client.force_login(reviewer)
    html = _report(client, blind_invite)
    assert blind_leaks(html) == []
    assert f"{alias(blind_invite)} wrote this well" in html
    assert reviewer.get_username() in html  # reviewers are not hidden from each other


def test_the_report_runs_as_many_queries_with_twenty_comments_as_with_one(client, reviewer, pushed):
    client.force_login(reviewer)
    url = reverse("invite_result", args=[pushed.public_id])
    comment_add(invite=pushed, author=reviewer, shared=False, **_fields(pushed))
    client.get(url)  # warm caches (sessions, content types, highlighting)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for n in range(19):
        comment_add(invite=pushed, author=reviewer, shared=n % 2 == 0, **_fields(pushed, line=str(n % 2 + 1)))
    with CaptureQueriesContext(connection) as twenty:
        html = client.get(url).content.decode()
    assert html.count('class="review-comment"') == 20
    assert len(twenty.captured_queries) == len(one.captured_queries)
