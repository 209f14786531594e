"""Taking and assigning invites, the refusals, and the mail reviewers get."""

import pytest
from django.core import mail

from portal.reviews.models import Assignment
from portal.reviews.services import (
    ReviewRefused,
    assignment_drop,
    assignment_make,
    assignment_notify,
    assignment_take,
    digest_send,
    review_save,
)
from portal.reviews.tasks import digest, notify_assigned

from .conftest import full_review, make_submitted

pytestmark = pytest.mark.engines


def test_a_reviewer_takes_an_invite_once(submitted, reviewer):
    first = assignment_take(invite=submitted, user=reviewer)
    assert assignment_take(invite=submitted, user=reviewer) == first
    assert first.assigned_by == reviewer
    assert Assignment.objects.filter(invite=submitted).count() == 1


def test_a_recruiter_assigns_a_reviewer_who_is_told_by_mail(
    submitted, reviewer, recruiter, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        assignment = assignment_make(invite=submitted, reviewer=reviewer, by=recruiter)
    assert assignment.assigned_by == recruiter
    assert len(callbacks) == 1  # reviews.notify_assigned, sent by name once committed
    assert assignment_notify(assignment_id=assignment.pk)
    (message,) = mail.outbox
    assert message.to == ["victor@example.com"]
    assert message.subject == f"Please review Ann Example ({submitted.assessment_version.assessment.title})"
    assert f"/reviews/invites/{submitted.public_id}/review/" in message.body


def test_assigning_refuses_users_who_may_not_review(submitted, reviewer, recruiter, no_role_user, second_reviewer):
    with pytest.raises(ReviewRefused, match=r"nora may not review this assessment\."):
        assignment_make(invite=submitted, reviewer=no_role_user, by=recruiter)
    with pytest.raises(ReviewRefused, match=r"Only recruiters assign reviewers\."):
        assignment_make(invite=submitted, reviewer=reviewer, by=second_reviewer)
    assert not Assignment.objects.exists()


def test_assigning_refuses_a_reviewer_the_assessment_does_not_name(restricted, reviewer, recruiter):
    with pytest.raises(ReviewRefused, match=r"victor may not review this assessment\."):
        assignment_make(invite=restricted, reviewer=reviewer, by=recruiter)
    with pytest.raises(ReviewRefused, match=r"You may not review this assessment\."):
        assignment_take(invite=restricted, user=reviewer)


def test_unsubmitted_work_cannot_be_taken(invite, reviewer):
    with pytest.raises(ReviewRefused, match=r"Only submitted work can be reviewed\."):
        assignment_take(invite=invite, user=reviewer)


def test_dropping_an_assignment(submitted, reviewer, second_reviewer, recruiter):
    assignment_take(invite=submitted, user=reviewer)
    with pytest.raises(ReviewRefused, match=r"Only recruiters remove other reviewers\."):
        assignment_drop(invite=submitted, reviewer=reviewer, by=second_reviewer)
    assert assignment_drop(invite=submitted, reviewer=reviewer, by=recruiter)
    assert not Assignment.objects.exists()


def test_no_mail_once_the_reviewer_has_submitted(submitted, reviewer, recruiter):
    assignment = assignment_make(invite=submitted, reviewer=reviewer, by=recruiter)
    review_save(invite=submitted, reviewer=reviewer, **full_review())
    assert not assignment_notify(assignment_id=assignment.pk)
    assert not assignment_notify(assignment_id=999_999)
    assert mail.outbox == []


def test_the_digest_lists_each_reviewers_assigned_invites_not_reviewed_yet(
    assessment_version, reviewer, second_reviewer, recruiter
):
    old = make_submitted(assessment_version, name="Old One", days_ago=3)
    new = make_submitted(assessment_version, name="New\nOne", days_ago=1)
    done = make_submitted(assessment_version, name="Done One", days_ago=2)
    for invite in (new, old, done):
        assignment_make(invite=invite, reviewer=reviewer, by=recruiter)
    review_save(invite=done, reviewer=reviewer, **full_review())
    assert digest_send() == 1
    (message,) = mail.outbox
    assert message.to == ["victor@example.com"]
    assert message.subject == "2 submissions waiting for your review"
    assert message.body.index("Old One") < message.body.index("New One")  # a name stays on one line
    assert "waiting 3 days" in message.body and "Done One" not in message.body


def test_the_tasks_carry_the_names_services_and_beat_send(settings, submitted, reviewer, recruiter):
    assert settings.CELERY_BEAT_SCHEDULE["reviewer-digest"] == {"task": digest.name, "schedule": 86400.0}
    assignment = assignment_make(invite=submitted, reviewer=reviewer, by=recruiter)
    assert notify_assigned.name == "reviews.notify_assigned" and notify_assigned(assignment.pk) is True
    assert digest() == 1 and len(mail.outbox) == 2
