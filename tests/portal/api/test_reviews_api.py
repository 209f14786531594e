"""Reviews through the API: a reviewer's personal token saves a draft or submits through the same
service as the review form; reading follows the pages' independence rule."""

import pytest

from portal.accounts.api_tokens import integration_token_create, personal_token_create
from portal.accounts.models import ApiToken, User
from portal.accounts.roles import REVIEWER
from portal.accounts.services import user_grant_role
from portal.invites.models import Event
from portal.invites.services import invite_submit
from portal.reviews.models import AssessmentReviewer, Review

V1 = "/api/v1"
FULL = {"thought_process": 3, "version_control": 2, "code_quality": 4, "communication": 1}


def full(**overrides) -> dict:
    return {"scores": dict(FULL), "comments": {"code_quality": "Tidy."}, "recommendation": "yes", **overrides}


@pytest.fixture
def other_reviewer(db) -> User:
    user = User.objects.create_user(username="wendy", email="wendy@example.com")
    user_grant_role(user=user, role=REVIEWER)
    return user


@pytest.fixture
def submitted(invite):
    return invite_submit(invite=invite)


@pytest.fixture
def url(submitted) -> str:
    return f"{V1}/invites/{submitted.public_id}/reviews"


def test_a_reviewer_saves_a_draft_then_submits_it(url, submitted, api_client, reviewer_token, reviewer):
    client = api_client(reviewer_token[1])
    draft = client.post(url, {"scores": {"code_quality": "2"}, "summary": "So far"}, format="json")
    assert draft.status_code == 200
    assert (draft.json()["status"], draft.json()["scores"]) == ("draft", {"code_quality": 2})

    done = client.post(url, full(submit=True, summary="Solid."), format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "submitted" and done.json()["submitted_at"]
    review = Review.objects.get(invite=submitted, reviewer=reviewer)
    assert (review.scores, review.comments, review.summary) == (FULL, {"code_quality": "Tidy."}, "Solid.")
    assert Event.objects.filter(invite=submitted, kind=Event.Kind.REVIEWED).count() == 1


def test_a_submitted_review_never_changes_409(url, api_client, reviewer_token):
    client = api_client(reviewer_token[1])
    assert client.post(url, full(submit=True), format="json").status_code == 200
    again = client.post(url, full(summary="changed my mind"), format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert "it can no longer change" in again.json()["detail"]


def test_an_incomplete_submission_is_refused_409_and_its_draft_kept(url, submitted, api_client, reviewer_token):
    refused = api_client(reviewer_token[1]).post(url, {"scores": {"code_quality": 3}, "submit": True}, format="json")
    assert refused.status_code == 409
    assert "To submit, choose a level for" in refused.json()["detail"]
    assert Review.objects.get(invite=submitted).status == Review.Status.DRAFT


def test_work_not_submitted_and_an_assessment_naming_others_are_refused_409(
    invite, api_client, reviewer_token, other_reviewer
):
    client = api_client(reviewer_token[1])
    response = client.post(f"{V1}/invites/{invite.public_id}/reviews", full(), format="json")
    assert (response.status_code, response.json()["detail"]) == (409, "Only submitted work can be reviewed.")
    invite_submit(invite=invite)
    AssessmentReviewer.objects.create(assessment=invite.assessment_version.assessment, user=other_reviewer)
    response = client.post(f"{V1}/invites/{invite.public_id}/reviews", full(), format="json")
    assert (response.status_code, response.json()["detail"]) == (409, "You may not review this assessment.")
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scores": {"charisma": 4}}, "scores"),
        ({"comments": {"charisma": "x"}}, "comments"),
        ({"scores": {"code_quality": 5}}, "scores"),
        ({"scores": {"code_quality": "four"}}, "scores"),
        ({"recommendation": "maybe"}, "recommendation"),
        ({"submit": "perhaps"}, "submit"),
        ({"summary": "a\x00b"}, "summary"),
    ],
)
def test_a_criterion_or_level_that_does_not_exist_is_400_and_nothing_is_saved(
    url, api_client, reviewer_token, body, field
):
    response = api_client(reviewer_token[1]).post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == [field]
    assert not Review.objects.exists()


def test_only_a_reviewers_personal_write_token_may_write(
    url, api_client, recruiter_token, reviewing_integration_token, reviewer
):
    read_only = personal_token_create(user=reviewer, name="read", scope=ApiToken.Scope.READ)
    for secret, why in (
        (read_only.secret, "read-only"),
        (reviewing_integration_token[1], "Only a personal token"),
        (recruiter_token[1], "Reviewer role"),
    ):
        response = api_client(secret).post(url, full(), format="json")
        assert response.status_code == 403
        assert why in response.json()["detail"]
    assert not Review.objects.exists()


def test_a_reviewer_reads_others_reviews_only_after_submitting_their_own(
    url, api_client, reviewer_token, other_reviewer, recruiter_token
):
    theirs = personal_token_create(user=other_reviewer, name="w", scope=ApiToken.Scope.WRITE)
    assert api_client(theirs.secret).post(url, full(submit=True), format="json").status_code == 200
    mine = api_client(reviewer_token[1])
    mine.post(url, {"scores": {"code_quality": 1}}, format="json")

    before = mine.get(url).json()
    assert before["hidden"] is True
    assert [(r["reviewer"], r["status"]) for r in before["reviews"]] == [("victor", "draft")]

    mine.post(url, full(submit=True), format="json")
    after = mine.get(url).json()
    assert after["hidden"] is False
    assert [(r["reviewer"], r["status"]) for r in after["reviews"]] == [("wendy", "submitted"), ("victor", "submitted")]


def test_recruiters_read_every_submitted_review_and_no_draft(
    url, api_client, reviewer_token, other_reviewer, admin_user, recruiter_token
):
    api_client(reviewer_token[1]).post(url, {"scores": {"code_quality": 1}}, format="json")
    theirs = personal_token_create(user=other_reviewer, name="w", scope=ApiToken.Scope.WRITE)
    api_client(theirs.secret).post(url, full(submit=True), format="json")
    integration = integration_token_create(name="ats", permissions=["accounts.recruit"], by=admin_user)
    for secret in (integration.secret, recruiter_token[1]):
        body = api_client(secret).get(url).json()
        assert body["hidden"] is False
        assert [(r["reviewer"], r["status"]) for r in body["reviews"]] == [("wendy", "submitted")]
