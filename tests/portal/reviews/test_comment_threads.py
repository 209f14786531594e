"""The report's diffs as HTML: a "+" in each commentable line's gutter, the form in a full-width
row under the line, the comments on one line as one thread, oldest first; candidate-controlled
file names and lines stay text."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.reviews.models import Feedback, ReviewComment
from portal.reviews.services import comment_add
from portal.scoring.selectors import invite_evidence
from tests.support.candidates import candidate_commit
from tests.support.factories import store_verdicts

NOTES = "notes/review.txt"
HOSTILE_PATH = 'notes/"><img src=x onerror=alert(1)>.txt'
HOSTILE_LINE = "<script>alert('line')</script>"


def _push(invite: Invite, work: Path, changes: dict[str, str]) -> Invite:
    candidate_commit(invite, work, branch="issue-1", changes=changes)
    store_verdicts(invite)
    return invite_submit(invite=invite)


@pytest.fixture
def pushed(invite, tmp_path) -> Invite:
    return _push(invite, tmp_path / "work", {NOTES: "first line\nsecond line\n"})


def _comment(invite: Invite, author, *, line: int = 1, body: str = "Why?", path: str = NOTES) -> ReviewComment:
    head = next(view.head for view in invite_evidence(invite=invite) if view.branch == "issue-1")
    return comment_add(
        invite=invite,
        author=author,
        commit=head,
        branch="issue-1",
        path=path,
        side="new",
        line=line,
        body=body,
        shared=False,
    )


def _report(client, invite) -> str:
    response = client.get(reverse("invite_result", args=[invite.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def _rows(html: str) -> list[str]:
    """The diff's table rows, in order."""
    return re.findall(r"<tr\b.*?</tr>", html, re.DOTALL)


def _comments_row(html: str, path: str, line: int) -> str:
    """The row under ``path``'s new line ``line``: its thread and its form."""
    key = f'data-line="issue-1:{path}:new:{line}"'
    return next(row for row in _rows(html) if key in row)


def test_each_commentable_line_has_a_gutter_button_named_for_its_file_and_line(client, reviewer, pushed):
    client.force_login(reviewer)
    html = _report(client, pushed)
    rows = _rows(html)
    line = next(i for i, row in enumerate(rows) if f"Comment on {NOTES} line 2</span>" in row)
    assert '<td class="diff-gutter"><details class="comment-open">' in rows[line]
    assert 'class="diff-code"' in rows[line] and "<form" not in rows[line]  # nothing after the code
    # The form is in the next row, which spans every column; hidden until the "+" opens it.
    assert rows[line + 1].startswith('<tr class="diff-comments" data-line="issue-1:notes/review.txt:new:2">')
    assert '<td colspan="4">' in rows[line + 1]
    assert f'aria-label="Comment on {NOTES} line 2"' in rows[line + 1]
    assert 'name="line" value="2"' in rows[line + 1]


def test_comments_on_one_line_form_one_thread_oldest_first(client, reviewer, second_reviewer, pushed):
    _comment(pushed, reviewer, body="First: why a text file?")
    ReviewComment.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    _comment(pushed, second_reviewer, body="Second: agreed, a docstring instead.")
    _comment(pushed, reviewer, line=2, body="Another line, another thread.")
    client.force_login(reviewer)
    html = _report(client, pushed)
    thread = _comments_row(html, NOTES, 1)
    assert 'class="diff-comments has-thread"' in thread
    assert 'aria-label="2 comments on notes/review.txt line 1"' in thread
    assert thread.index("First: why a text file?") < thread.index("Second: agreed")
    assert thread.index("victor") < thread.index("wendy")  # each with its author...
    assert thread.count("<time datetime=") == 2  # ...and time
    assert "<summary>Reply</summary>" in thread and 'aria-label="Reply on notes/review.txt line 1"' in thread
    assert "Another line" not in thread
    assert "Another line, another thread." in _comments_row(html, NOTES, 2)


def test_a_reply_posted_on_the_line_joins_its_thread(client, reviewer, pushed):
    first = _comment(pushed, reviewer, body="Why?")
    client.force_login(reviewer)
    fields = {"commit": first.commit, "branch": "issue-1", "path": NOTES, "side": "new", "line": "1"}
    response = client.post(reverse("review_comment_add", args=[pushed.public_id]), {**fields, "body": "Because."})
    reply = ReviewComment.objects.latest("id")
    assert response.status_code == 302 and response.url.endswith(f"#comment-{reply.pk}")
    thread = _comments_row(_report(client, pushed), NOTES, 1)
    assert thread.index(f'id="comment-{first.pk}"') < thread.index(f'id="comment-{reply.pk}"')


def test_once_the_feedback_is_released_the_form_offers_no_sharing(client, reviewer, pushed):
    Feedback.objects.create(invite=pushed, summary="Thanks.", released_at=timezone.now())
    client.force_login(reviewer)
    row = _comments_row(_report(client, pushed), NOTES, 1)
    assert 'name="shared"' not in row
    assert "this comment stays with the reviewers" in row


def test_hostile_file_names_and_lines_stay_text(client, reviewer, invite, tmp_path):
    pushed = _push(invite, tmp_path / "work", {HOSTILE_PATH: HOSTILE_LINE + "\n"})
    _comment(pushed, reviewer, path=HOSTILE_PATH, body="<b>bold?</b>")
    client.force_login(reviewer)
    html = _report(client, pushed)
    section = html[html.index('<section id="diffs">') :]
    assert "<img src=x" not in section and "<script>alert" not in section and "<b>bold?" not in section
    escaped = "notes/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.txt"
    assert f"Comment on {escaped} line 1</span>" in section  # the gutter's name
    assert f'data-line="issue-1:{escaped}:new:1"' in section
    assert f'name="path" value="{escaped}"' in section
    assert "&lt;script&gt;alert(" in section
    assert "&lt;b&gt;bold?&lt;/b&gt;" in section
