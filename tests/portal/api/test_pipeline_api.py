"""The pipeline over the API: assessments, candidates, invites and the invite's actions.

Each change is checked where the services leave it (the invite row, its events, the queued email
and the mail it becomes), not only in the answer.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from portal.accounts.api_tokens import personal_token_create, token_revoke
from portal.accounts.models import ApiToken
from portal.api.throttling import TokenRateThrottle
from portal.invites.models import Candidate, Email, Event, Invite
from portal.pipeline.invitations import CSV_MAX_ROWS
from tests.support.factories import make_invite

pytestmark = pytest.mark.engines

INVITES = reverse("api:invites")
ASSESSMENTS = reverse("api:assessments")
SLUG = "library-lending-api"


def _action(invite: Invite, action: str) -> str:
    return reverse(f"api:invite_{action}", args=[invite.public_id])


def _future(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


@pytest.fixture
def recruiting(api_client, recruiter_token):
    return api_client(recruiter_token[1])


def _one(**fields) -> dict:
    return {"name": "Cy Example", "email": "cy@example.com", "assessment": SLUG, **fields}


# Who may call --------------------------------------------------------------------------------


def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api_client, db):
    response = api_client().get(INVITES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("state", ["unknown", "revoked", "expired", "deactivated"])
def test_a_token_that_is_unknown_revoked_expired_or_whose_user_left_is_401(api_client, recruiter, state):
    made = personal_token_create(user=recruiter, name="Script", scope=ApiToken.Scope.WRITE)
    secret = made.secret
    if state == "unknown":
        secret = "ap_" + "x" * 43
    elif state == "revoked":
        token_revoke(token=made.token)
    elif state == "expired":
        ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        recruiter.is_active = False
        recruiter.save(update_fields=["is_active"])
    response = api_client(secret).get(INVITES)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_read_token_reads_but_cannot_invite(api_client, read_token, assessment_version):
    client = api_client(read_token[1])
    assert client.get(INVITES).status_code == 200
    response = client.post(INVITES, _one(), format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert not Candidate.objects.exists()


def test_a_reviewer_reads_assessments_but_not_the_pipeline(api_client, reviewer_token, assessment_version):
    client = api_client(reviewer_token[1])
    assert client.get(ASSESSMENTS).status_code == 200
    for url in (INVITES, reverse("api:candidates")):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json()["detail"] == "This needs the Recruiter role."
    assert client.post(INVITES, _one(), format="json").status_code == 403


def test_an_integration_with_the_reviewer_role_only_cannot_invite(
    api_client, reviewing_integration_token, assessment_version
):
    assert api_client(reviewing_integration_token[1]).post(INVITES, _one(), format="json").status_code == 403


def test_an_integration_token_invites_for_no_person(api_client, integration_token, assessment_version, broker):
    with broker.commit():
        response = api_client(integration_token[1]).post(INVITES, _one(), format="json")
    assert response.status_code == 201
    invite = Invite.objects.get(public_id=response.json()["id"])
    assert invite.created_by is None
    assert Email.objects.get(invite=invite).created_by is None
    assert invite.events.get(kind=Event.Kind.INVITED).data == {"by": None}
    revoked = api_client(integration_token[1]).post(_action(invite, "revoke"))
    assert revoked.status_code == 200
    assert invite.events.get(kind=Event.Kind.REVOKED).data == {"by": None}


def test_too_many_requests_are_429_with_retry_after(api_client, recruiter_token, monkeypatch, db):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "2/min"})
    cache.clear()
    client = api_client(recruiter_token[1])
    assert [client.get(INVITES).status_code for _ in range(2)] == [200, 200]
    response = client.get(INVITES)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    cache.clear()


# Reading -------------------------------------------------------------------------------------


def test_assessments_list_the_latest_version_with_its_tickets_and_points(
    api_client, recruiter_token, assessment_version
):
    response = api_client(recruiter_token[1]).get(ASSESSMENTS)
    assert response.status_code == 200
    [assessment] = response.json()
    assert assessment["slug"] == SLUG
    assert assessment["version"]["content_hash"] == assessment_version.content_hash
    assert [t["number"] for t in assessment["tickets"]] == [1, 2, 3, 4, 5, 6]
    assert assessment["points"] == 100
    one = api_client(recruiter_token[1]).get(reverse("api:assessment", args=[SLUG]))
    assert one.json() == assessment


def test_an_unknown_assessment_invite_or_candidate_is_404(recruiting, db):
    for url in (
        reverse("api:assessment", args=["nope"]),
        reverse("api:invite", args=["nope"]),
        reverse("api:invite_revoke", args=["nope"]),
        reverse("api:candidate", args=[999]),
        reverse("api:candidate", args=[2**70]),
        reverse("api:invite", args=["\x00"]),
    ):
        response = recruiting.post(url) if url.endswith("revoke") else recruiting.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_invites_show_the_dashboards_stage_and_score_and_their_links(recruiting, assessment_version):
    created = make_invite(assessment_version, name="Ann Example", email="ann@example.com")
    response = recruiting.get(INVITES)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == created.invite.public_id
    assert row["candidate"]["email"] == "ann@example.com"
    assert (row["stage"], row["status"], row["score"]) == ("invited", "active", None)
    assert row["report_url"].endswith(reverse("recruiter_invite_detail", args=[created.invite.public_id]))
    assert recruiting.get(row["api_url"]).json() == row


def test_invites_filter_by_stage_assessment_and_search_and_page(recruiting, assessment_version):
    first = make_invite(assessment_version, name="Ann Example").invite
    second = make_invite(assessment_version, name="Bob Example").invite
    recruiting.post(_action(second, "revoke"))
    assert [r["id"] for r in recruiting.get(INVITES, {"stage": "revoked"}).json()["results"]] == [second.public_id]
    assert [r["id"] for r in recruiting.get(INVITES, {"search": "ann"}).json()["results"]] == [first.public_id]
    assert recruiting.get(INVITES, {"assessment": "other"}).json()["count"] == 0
    page = recruiting.get(INVITES, {"page_size": 1}).json()
    assert (page["count"], len(page["results"]), page["next"] is not None) == (2, 1, True)
    bad = recruiting.get(INVITES, {"stage": "hired"})
    assert bad.status_code == 400
    assert "stage" in bad.json()["fields"]


def test_candidates_list_their_invites_with_stages(recruiting, assessment_version):
    invite = make_invite(assessment_version, name="Ann Example", email="ann@example.com").invite
    body = recruiting.get(reverse("api:candidates")).json()
    [candidate] = body["results"]
    assert candidate["email"] == "ann@example.com"
    assert candidate["invites"] == [
        {
            "id": invite.public_id,
            "assessment": SLUG,
            "status": "active",
            "stage": "invited",
            "created_at": candidate["invites"][0]["created_at"],
            "api_url": candidate["invites"][0]["api_url"],
        }
    ]
    assert recruiting.get(candidate["api_url"]).json() == candidate


# Inviting ------------------------------------------------------------------------------------


def test_inviting_one_without_email_answers_the_candidates_link_once(
    recruiting, recruiter, assessment_version, broker, client
):
    with broker.commit():
        response = recruiting.post(INVITES, _one(send_email=False, time_limit_hours=48), format="json")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    invite = Invite.objects.get(public_id=body["id"])
    assert (invite.created_by, invite.time_limit) == (recruiter, timedelta(hours=48))
    assert body["time_limit_hours"] == 48
    assert not invite.emails.exists() and not broker.tasks
    assert client.get(body["invite_url"].removeprefix("http://testserver")).status_code == 200
    assert recruiting.get(body["api_url"]).json().get("invite_url") is None


def test_inviting_one_emails_the_invitation_by_default(recruiting, assessment_version, broker, mailoutbox):
    with broker.commit():
        response = recruiting.post(INVITES, _one(deadline=_future()), format="json")
    assert response.status_code == 201
    assert response.json()["invite_url"] is None
    email = Email.objects.get(invite__public_id=response.json()["id"])
    assert (email.kind, email.status, email.to) == ("invitation", "queued", "cy@example.com")
    assert broker.run() == ["invites.send_email"]
    assert [m.to for m in mailoutbox] == [["cy@example.com"]]


def test_inviting_many_creates_all(recruiting, assessment_version, broker):
    rows = [_one(email=f"c{i}@example.com", name=f"C {i}") for i in range(3)]
    with broker.commit():
        response = recruiting.post(INVITES, {"invites": rows, "send_email": False}, format="json")
    assert response.status_code == 201
    created = response.json()["invites"]
    assert [c["candidate"]["email"] for c in created] == ["c0@example.com", "c1@example.com", "c2@example.com"]
    assert all(c["invite_url"] for c in created)
    assert Invite.objects.count() == 3


def test_a_batch_with_one_bad_row_creates_nothing_and_names_the_row(recruiting, assessment_version):
    rows = [_one(email="a@example.com"), _one(email="not-an-address"), _one(email="a@example.com")]
    response = recruiting.post(INVITES, {"invites": rows}, format="json")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["invites[1].email"] == ["“not-an-address” is not an email address."]
    assert "a@example.com is also on line 0." in fields["invites[2].email"]
    assert not Invite.objects.exists() and not Candidate.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_one(name=5), "name"),
        (_one(send_email="maybe"), "send_email"),
        (_one(time_limit_hours="long"), "time_limit_hours"),
        ({"invites": "Ann <ann@example.com>"}, "invites"),
        ({"invites": [_one(), ["x"]]}, "invites[1]"),
        ({"email": "cy@example.com", "assessment": SLUG}, "name"),
        (_one(assessment="unknown"), "assessment"),
        (_one(email="cy@"), "email"),
        (_one(deadline="2020-01-01T10:00"), "deadline"),
        (_one(deadline="next friday"), "deadline"),
        (_one(deadline="9999-12-31T23:59:59-12:00"), "deadline"),
        (_one(time_limit_hours=0), "time_limit_hours"),
        ({"invites": []}, "invites"),
        ({"invites": [_one(email=f"c{i}@example.com") for i in range(CSV_MAX_ROWS + 1)]}, "invites"),
    ],
)
def test_bad_input_is_400_with_the_field_and_creates_nothing(recruiting, assessment_version, body, field):
    response = recruiting.post(INVITES, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"], response.json()
    assert not Invite.objects.exists()


def test_malformed_json_or_not_an_object_is_400(recruiting, assessment_version):
    response = recruiting.post(INVITES, '{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "JSON parse error" in response.json()["fields"]["body"][0]
    assert recruiting.post(INVITES, [_one()], format="json").status_code == 400


def test_a_candidate_with_an_active_invite_is_refused_a_second(recruiting, assessment_version):
    make_invite(assessment_version, email="cy@example.com")
    response = recruiting.post(INVITES, _one(), format="json")
    assert response.status_code == 400
    assert "already has an active invite" in response.json()["fields"]["email"][0]


# The invite's actions ------------------------------------------------------------------------


def test_send_queues_the_invitation_once(recruiting, invite, broker, mailoutbox):
    with broker.commit():
        response = recruiting.post(_action(invite, "send"))
    assert response.status_code == 202
    assert response.json()["email"]["status"] == "queued"
    assert response.json()["invite"]["emailing"] is True
    again = recruiting.post(_action(invite, "send"))
    assert again.status_code == 409
    assert "already waiting to be sent" in again.json()["detail"]
    broker.run()
    assert len(mailoutbox) == 1
    assert recruiting.post(_action(invite, "send")).status_code == 409
    with broker.commit():
        assert recruiting.post(_action(invite, "resend")).status_code == 202
    broker.run()
    assert len(mailoutbox) == 2


def test_revoke_ends_access_and_refuses_twice(recruiting, recruiter, invite):
    response = recruiting.post(_action(invite, "revoke"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["stage"]) == ("revoked", "revoked")
    invite.refresh_from_db()
    assert invite.status == Invite.Status.REVOKED
    assert invite.events.get(kind=Event.Kind.REVOKED).data == {"by": recruiter.username}
    assert recruiting.post(_action(invite, "revoke")).status_code == 409
    refused = recruiting.post(_action(invite, "send"))
    assert refused.status_code == 409
    assert refused.json()["detail"] == "This invite is revoked: no invitation can be sent for it."


def test_extend_adds_time_and_refuses_what_does_not_apply(recruiting, assessment_version):
    invite = make_invite(assessment_version, time_limit=timedelta(hours=4)).invite
    response = recruiting.post(_action(invite, "extend"), {"hours": 2}, format="json")
    assert response.status_code == 200
    assert response.json()["time_limit_hours"] == 6
    assert invite.events.filter(kind=Event.Kind.EXTENDED).count() == 1
    no_deadline = recruiting.post(_action(invite, "extend"), {"deadline": _future()}, format="json")
    assert no_deadline.status_code == 409
    assert no_deadline.json()["detail"] == "This invite has no deadline, so there is none to extend."
    for body, field in (
        ({}, "non_field_errors"),
        ({"hours": -1}, "hours"),
        ({"hours": "two"}, "hours"),
        ({"deadline": "2020-01-01"}, "deadline"),
        ({"deadline": "9999-12-31T23:59:59-12:00"}, "deadline"),
    ):
        bad = recruiting.post(_action(invite, "extend"), body, format="json")
        assert bad.status_code == 400
        assert field in bad.json()["fields"]


def test_reopen_makes_a_revoked_invite_active_again(recruiting, invite):
    assert recruiting.post(_action(invite, "reopen"), {}, format="json").status_code == 409
    recruiting.post(_action(invite, "revoke"))
    response = recruiting.post(_action(invite, "reopen"), {"deadline": _future()}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert invite.events.filter(kind=Event.Kind.REOPENED).count() == 1
