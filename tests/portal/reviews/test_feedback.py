"""Feedback released to the candidate: the summary and the shared comments, by reviewer number only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.reviews.models import AssessmentReviewer, Feedback, ReviewComment
from portal.reviews.services import ReviewRefused, comment_add, comment_delete, feedback_release
from tests.portal.reviews.test_comments import NOTES, line_form, push_notes
from tests.support.candidates import candidate_commit
from tests.support.factories import store_verdicts

HEADING = "Feedback from the reviewers"


def _comment(invite: Invite, author, *, body: str, shared: bool, line: int = 1) -> ReviewComment:
    form = line_form(invite, line=str(line))
    fields = {key: form[key] for key in ("commit", "branch", "path", "side", "line")}
    return comment_add(invite=invite, author=author, body=body, shared=shared, **fields)


@pytest.fixture
def pushed(created, tmp_path) -> Invite:
    push_notes(created.invite, tmp_path / "work")
    return created.invite


def _candidate_page(client, created) -> str:
    return client.get(reverse("invite_page", args=[created.link_token])).content.decode()


def _release(client, invite, **fields):
    data = {"summary": "Thank you for your work.", "confirm": "yes", **fields}
    return client.post(reverse("review_feedback_release", args=[invite.public_id]), data)


def test_the_candidate_reads_shared_comments_and_never_private_ones_after_release(
    client, created, pushed, reviewer, second_reviewer
):
    invite_submit(invite=pushed)
    _comment(pushed, second_reviewer, body="Clear first line.", shared=True)
    _comment(pushed, reviewer, body="Team only: looks rushed.", shared=False)
    _comment(pushed, reviewer, body="The second line needs a test.", shared=True, line=2)
    _comment(pushed, second_reviewer, body="Nice ending.", shared=True, line=2)
    page = _candidate_page(client, created)
    assert HEADING not in page and "Clear first line." not in page  # nothing before release

    client.force_login(reviewer)
    assert _release(client, pushed).status_code == 302
    client.logout()
    page = _candidate_page(client, created)
    assert HEADING in page and "Thank you for your work." in page
    assert "Clear first line." in page and "The second line needs a test." in page and "Nice ending." in page
    assert "Team only" not in page
    assert page.count("Reviewer 1") == 2 and page.count("Reviewer 2") == 1  # wendy commented first
    assert NOTES in page and "issue-1" in page and "second line" in page  # where, and the code line
    for secret in ("victor", "wendy", "wendy@example.com", reviewer.email):
        assert secret not in page


def test_release_is_refused_while_the_invite_is_active(client, pushed, reviewer):
    _comment(pushed, reviewer, body="Shared early.", shared=True)
    with pytest.raises(ReviewRefused, match="closed for the candidate"):
        feedback_release(invite=pushed, by=reviewer, summary="Too soon.")
    client.force_login(reviewer)
    response = _release(client, pushed)
    assert response.status_code == 400 and "closed for the candidate" in response.content.decode()
    assert not Feedback.objects.filter(released_at__isnull=False).exists()


def test_an_invite_past_its_deadline_is_closed_and_may_get_feedback(pushed, reviewer):
    Invite.objects.filter(pk=pushed.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    pushed.refresh_from_db()
    feedback = feedback_release(invite=pushed, by=reviewer, summary="Good effort.")
    assert feedback.released_at is not None and feedback.released_by == reviewer


def test_a_revoked_invite_gets_no_feedback(pushed, reviewer):
    Invite.objects.filter(pk=pushed.pk).update(status=Invite.Status.REVOKED)
    pushed.refresh_from_db()
    with pytest.raises(ReviewRefused, match="closed for the candidate"):
        feedback_release(invite=pushed, by=reviewer, summary="No.")


def test_release_needs_the_confirmation_and_something_to_release(client, pushed, reviewer):
    invite_submit(invite=pushed)
    client.force_login(reviewer)
    response = _release(client, pushed, confirm="")
    assert response.status_code == 400 and "confirm that the candidate may read" in response.content.decode()
    response = _release(client, pushed, summary="  ")
    assert response.status_code == 400 and "nothing to release" in response.content.decode()
    assert not Feedback.objects.filter(released_at__isnull=False).exists()


def test_feedback_is_released_once_and_then_no_longer_changes(pushed, reviewer):
    invite_submit(invite=pushed)
    comment = _comment(pushed, reviewer, body="Shared.", shared=True)
    feedback_release(invite=pushed, by=reviewer, summary="First.")
    with pytest.raises(ReviewRefused, match="can no longer change"):
        feedback_release(invite=pushed, by=reviewer, summary="Second.")
    with pytest.raises(ReviewRefused, match="can no longer be deleted"):
        comment_delete(comment=comment, user=reviewer)
    with pytest.raises(ReviewRefused, match="Keep it private"):
        _comment(pushed, reviewer, body="Late.", shared=True)
    _comment(pushed, reviewer, body="A private note is still fine.", shared=False)
    assert Feedback.objects.get().summary == "First."
    assert ReviewComment.objects.filter(visibility="shared").count() == 1


def test_a_summary_too_long_is_refused(pushed, reviewer):
    invite_submit(invite=pushed)
    with pytest.raises(ReviewRefused, match="at most 10,000"):
        feedback_release(invite=pushed, by=reviewer, summary="x" * 10_001)
    assert not Feedback.objects.filter(released_at__isnull=False).exists()


def test_who_may_release(client, pushed, reviewer, second_reviewer, recruiter, no_role_user):
    invite_submit(invite=pushed)
    AssessmentReviewer.objects.create(assessment=pushed.assessment_version.assessment, user=second_reviewer)
    for outsider in (reviewer, no_role_user):
        with pytest.raises(ReviewRefused, match="Only the assessment's reviewers and recruiters"):
            feedback_release(invite=pushed, by=outsider, summary="Not mine to release.")
    client.force_login(recruiter)
    page = client.get(reverse("review_form", args=[pushed.public_id])).content.decode()
    assert "Feedback for the candidate" in page
    _release(client, pushed)
    assert Feedback.objects.get().released_by == recruiter


def test_the_release_form_shows_the_shared_comments_once_the_invite_is_closed(client, pushed, reviewer):
    _comment(pushed, reviewer, body="Shared with them.", shared=True)
    _comment(pushed, reviewer, body="Only for us.", shared=False)
    client.force_login(reviewer)
    url = reverse("review_form", args=[pushed.public_id])
    assert "Feedback for the candidate" not in client.get(url).content.decode()
    invite_submit(invite=pushed)
    page = client.get(url).content.decode()
    assert "Feedback for the candidate" in page
    # The evidence beside the rubric shows every comment under its line; the release lists the shared.
    release = page[page.index('<section aria-labelledby="feedback-heading"') :]
    assert "Shared with them." in release and "Only for us." not in release


def test_a_hostile_body_and_summary_are_escaped_everywhere(client, created, pushed, reviewer):
    invite_submit(invite=pushed)
    _comment(pushed, reviewer, body="<script>alert('c')</script>", shared=True)
    client.force_login(reviewer)
    _release(client, pushed, summary="<img src=x onerror=alert(1)>")
    pages = [
        client.get(reverse("review_form", args=[pushed.public_id])).content.decode(),
        client.get(reverse("invite_result", args=[pushed.public_id])).content.decode(),
    ]
    client.logout()
    pages.append(_candidate_page(client, created))
    for page in pages:
        assert "<script>alert('c')" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_a_hostile_file_name_and_line_are_escaped_on_every_page(client, created, reviewer, tmp_path):
    invite = created.invite
    path = "notes/<b onmouseover=alert(1)>x.txt"
    head = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={path: "<script>alert(2)</script>\n"})
    store_verdicts(invite)
    invite_submit(invite=invite)
    fields = {"commit": head, "branch": "issue-1", "path": path, "side": "new", "line": 1}
    comment_add(invite=invite, author=reviewer, body="Odd name.", shared=True, **fields)
    client.force_login(reviewer)
    _release(client, invite)
    report = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    client.logout()
    for page in (report, _candidate_page(client, created)):
        assert "<b onmouseover" not in page and "<script>alert(2)" not in page
        assert "Odd name." in page
