"""The three endpoints Greenhouse calls, played from its recorded calls: authentication, https,
what each answers, and every kind of bad input answered with a 4xx and the contract's JSON."""

import base64

import pytest
from django.test import Client

from portal.ats.models import GreenhouseTest
from portal.invites.models import Email, Invite
from tests.support.factories import make_invite
from tests.support.greenhouse import play_in

SEND = {"test_id": "", "first_name": "Harry", "last_name": "Potter", "email": "hpotter@example.com"}
GH_URL = "https://app.greenhouse.io/integrations/testing_partners/take_home_tests/12345"


@pytest.fixture
def gh(greenhouse_key):
    return lambda name, **values: play_in(Client(), name, key=greenhouse_key, **values)


@pytest.fixture
def send(gh, assessment_version):
    def send(**values):
        return gh("send_test", **{**SEND, "test_id": assessment_version.assessment.slug, "url": GH_URL, **values})

    return send


def test_list_tests_names_every_inviteable_assessment(gh, assessment_version):
    response = gh("list_tests")
    assert response.status_code == 200
    assert response.json() == [
        {
            "partner_test_id": assessment_version.assessment.slug,
            "partner_test_name": assessment_version.assessment.title,
        }
    ]


def test_list_tests_lists_only_the_configured_assessments(gh, assessment_version, settings):
    settings.PORTAL_GREENHOUSE_ASSESSMENTS = ["another-one"]
    assert gh("list_tests").json() == []


@pytest.mark.parametrize("name", ["list_tests", "send_test", "test_status"])
def test_a_wrong_key_is_refused_with_401_and_a_challenge(name, greenhouse_key, assessment_version):
    response = play_in(Client(), name, key="gh_not-the-key", **SEND, url=GH_URL, partner_interview_id="x")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert response.json() == {"errors": ["The API key is not valid."]}
    assert not Invite.objects.exists()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer abc", "Basic not-base64!", "Basic " + base64.b64encode(b":").decode()]
)
def test_no_key_is_refused_with_401(authorization, greenhouse_key):
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().get("/ats/greenhouse/list_tests", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": ["Send the API key as the Basic user name."]}


def test_a_revoked_key_is_refused(gh, greenhouse_key):
    from portal.ats.services import greenhouse_keys_revoke

    greenhouse_keys_revoke()
    assert gh("list_tests").status_code == 401


def test_plain_http_from_another_host_is_refused_without_debug(gh, settings):
    settings.DEBUG = False
    assert gh("list_tests", extra={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    # A request through a proxy on the same host is not "from loopback".
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert gh("list_tests", extra=forwarded).status_code == 403
    assert gh("list_tests", extra={"REMOTE_ADDR": "203.0.113.9", "secure": True}).status_code == 200
    assert gh("list_tests", extra={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_the_wrong_method_is_refused_with_405(greenhouse_key):
    auth = "Basic " + base64.b64encode(f"{greenhouse_key}:".encode()).decode()
    response = Client().get("/ats/greenhouse/send_test", headers={"Authorization": auth})
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_send_test_invites_the_candidate_and_queues_the_invitation(send, broker, recruiter, settings):
    settings.PORTAL_GREENHOUSE_INVITER = recruiter.username
    with broker.commit():
        response = send()
    assert response.status_code == 200
    test = GreenhouseTest.objects.get(partner_interview_id=response.json()["partner_interview_id"])
    assert (test.invite.candidate.name, test.invite.candidate.email) == ("Harry Potter", "hpotter@example.com")
    assert test.invite.created_by == recruiter
    assert test.invite.deadline is not None and test.invite.time_limit is None
    assert (test.callback_url, test.partner_test_id) == (GH_URL, test.invite.assessment_version.assessment.slug)
    assert test.greenhouse_profile_url.startswith("https://app.greenhouse.io/people/")
    assert Email.objects.get(invite=test.invite).kind == Email.Kind.INVITATION
    assert [name for name, _ in broker.tasks] == ["invites.send_email"]


def test_a_repeated_send_test_returns_the_same_id_without_a_second_invite(send, broker):
    with broker.commit():
        first = send().json()
        again = send().json()
        # Greenhouse sending the same test to the same person again, under a new url of its own.
        other_url = send(url=GH_URL + "0").json()
    assert first == again == other_url
    assert Invite.objects.count() == 1 and Email.objects.count() == 1
    assert GreenhouseTest.objects.get().callback_url == GH_URL + "0"


def test_a_candidate_already_invited_by_a_recruiter_is_a_409(send, assessment_version):
    make_invite(assessment_version, email="HPotter@example.com")
    response = send()
    assert response.status_code == 409
    assert "already has an open invite" in response.json()["errors"][0]
    assert not GreenhouseTest.objects.exists()


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"test_id": "no-such-test"}, "partner_test_id: there is no test “no-such-test”"),
        ({"email": ""}, "candidate.email: this field is required."),
        ({"email": "not-an-email"}, "candidate.email: “not-an-email” is not an email address."),
        ({"first_name": "", "last_name": ""}, "candidate.first_name: The name is missing."),
        ({"url": "ftp://example.com/x"}, "url: must be an http or https URL."),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(send, values, error):
    response = send(**values)
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith(error)
    assert not Invite.objects.exists() and not GreenhouseTest.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"partner_test_id": 1.5, "candidate": "x"}'])
def test_a_malformed_body_is_a_400(body, greenhouse_key):
    auth = "Basic " + base64.b64encode(f"{greenhouse_key}:".encode()).decode()
    response = Client().post(
        "/ats/greenhouse/send_test", data=body, content_type="application/json", headers={"Authorization": auth}
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_test_status_of_an_unknown_or_missing_id_is_a_4xx(gh):
    unknown = gh("test_status", partner_interview_id="nosuchid")
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": ["No test was sent with partner_interview_id “nosuchid”."]}
    assert gh("test_status", partner_interview_id="").status_code == 400


def test_test_status_of_a_new_invite_says_not_started(send, gh, broker):
    with broker.commit():
        pid = send().json()["partner_interview_id"]
    response = gh("test_status", partner_interview_id=pid)
    assert response.status_code == 200
    body = response.json()
    assert body["partner_status"] == "not_started"
    assert "partner_score" not in body and "partner_profile_url" not in body
    assert body["metadata"]["Stage"] == "invited"
