"""Personas and submitted invites for the reviewer's workspace."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.models import User
from portal.accounts.roles import REVIEWER
from portal.accounts.services import user_grant_role
from portal.invites.models import Invite
from portal.invites.services import candidate_get_or_create, invite_create, invite_submit
from portal.reviews.models import AssessmentReviewer


@pytest.fixture
def second_reviewer(db) -> User:
    user = User.objects.create_user(
        username="wendy", password="correct horse battery staple", email="wendy@example.com"
    )
    user_grant_role(user=user, role=REVIEWER)
    return user


@pytest.fixture
def submitted(invite) -> Invite:
    """The ``invite`` fixture, submitted by its candidate: waiting for review."""
    return invite_submit(invite=invite)


@pytest.fixture
def restricted(submitted, second_reviewer):
    """The assessment of ``submitted`` names its only reviewer: wendy. victor (``reviewer``) is left out."""
    AssessmentReviewer.objects.create(assessment=submitted.assessment_version.assessment, user=second_reviewer)
    return submitted


def make_submitted(assessment_version, *, name: str, days_ago: float) -> Invite:
    """A submitted invite without a repository (the queue reads rows only), submitted ``days_ago``."""
    candidate = candidate_get_or_create(name=name, email=f"{name.lower().replace(' ', '.')}@example.com")
    invite = invite_create(candidate=candidate, assessment_version=assessment_version).invite
    invite = invite_submit(invite=invite)
    Invite.objects.filter(pk=invite.pk).update(submitted_at=timezone.now() - timedelta(days=days_ago))
    invite.refresh_from_db()
    return invite


FULL = {"thought_process": "3", "version_control": "2", "code_quality": "4", "communication": "1"}


def full_review(**overrides) -> dict:
    """Every criterion scored and a recommendation: a review that may be submitted."""
    fields = {"scores": dict(FULL), "comments": {}, "recommendation": "yes", "summary": "Solid work.", "submit": True}
    return {**fields, **overrides}
