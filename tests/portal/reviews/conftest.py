"""Personas and submitted invites for the reviewer's workspace."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.models import User
from portal.accounts.roles import REVIEWER
from portal.accounts.services import user_grant_role
from portal.assessments.models import Assessment
from portal.hosting.pulls import pull_open
from portal.invites.models import Invite
from portal.invites.services import candidate_get_or_create, invite_create, invite_submit
from portal.reviews.models import AssessmentReviewer
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, store_verdicts


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


# A candidate of a blind assessment, and every string that would name them: their name and email,
# and the author name and email of their commits (tests.support.git.GitClient commits as this
# identity), which differ from them as a candidate's git identity often does.
BLIND_NAME = "Zora Quill"
BLIND_EMAIL = "zora.quill@example.net"
BLIND_SECRETS = (BLIND_NAME, BLIND_EMAIL, "zora.quill", "Ann Example", "ann@example.com")


def blind_leaks(text: str) -> list[str]:
    """The strings naming the blind candidate that ``text`` holds."""
    return [secret for secret in BLIND_SECRETS if re.search(re.escape(secret), text, re.IGNORECASE)]


@pytest.fixture
def blind_invite(assessment_version, tmp_path) -> Invite:
    """A submitted invite of a blind assessment whose commits, notes and pull request name the candidate."""
    Assessment.objects.filter(pk=assessment_version.assessment_id).update(blind_review=True)
    invite = make_invite(assessment_version, name=BLIND_NAME, email=BLIND_EMAIL).invite
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-1",
        changes={"NOTES.md": f"Notes by {BLIND_NAME} <{BLIND_EMAIL}>\n"},
        message=f"Fix: Resolve issue #1 - pages\n\nSigned-off-by: {BLIND_NAME} <{BLIND_EMAIL}>",
    )
    store_verdicts(invite)
    pull_open(
        invite=invite,
        branch="issue-1",
        title=f"Pages, by {BLIND_NAME}",
        description=f"Closes #1\n\n-- {BLIND_NAME}, {BLIND_EMAIL}",
    )
    return invite_submit(invite=invite)
