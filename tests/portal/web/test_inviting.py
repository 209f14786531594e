"""The invite form: who may use it, one candidate or many, every rule, and nothing half-made."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.assessments.models import Assessment, AssessmentVersion
from portal.core.datadir import data_dir
from portal.hosting.models import Repository
from portal.hosting.services import repository_path
from portal.invites.models import Candidate, Email, Invite
from portal.pipeline.invitations import (
    FORM_MAX_ROWS,
    InviteRequest,
    invitations_create,
    invite_requests_check,
    parse_deadline,
    requests_from_text,
)
from tests.support.factories import make_invite

pytestmark = pytest.mark.engines

URL = reverse("recruiter_invite")


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _deadline(**delta) -> str:
    return (timezone.localtime() + timedelta(**(delta or {"days": 3}))).strftime("%Y-%m-%dT%H:%M")


def _form(version, candidates: str, **fields) -> dict:
    form = {
        "assessment": version.assessment.slug,
        "deadline": _deadline(),
        "time_limit_hours": "",
        "candidates": candidates,
        "send_email": "on",
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def _counts() -> tuple[int, int, int]:
    return Invite.objects.count(), Candidate.objects.count(), Repository.objects.count()


def _refused(client, version, candidates: str, **fields):
    """Post the form, and check that it was refused with nothing created and the input kept."""
    before = _counts()
    form = _form(version, candidates, **fields)
    response = client.post(URL, form)
    assert response.status_code == 400
    assert _counts() == before
    assert response.context["values"]["candidates"] == form["candidates"]
    return response


# Who may use it


def test_anonymous_visitors_are_sent_to_sign_in(client, assessment_version):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.post(URL, _form(assessment_version, "Ann <ann@example.com>")).status_code == 302
    assert Invite.objects.count() == 0


@pytest.mark.parametrize("persona", ["reviewer", "no_role_user"])
def test_users_without_the_recruiter_role_are_refused(client, assessment_version, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(assessment_version, "Ann <ann@example.com>")).status_code == 403
    assert Invite.objects.count() == 0


def test_a_post_without_the_csrf_token_is_refused(recruiter, assessment_version):
    client = Client(enforce_csrf_checks=True)
    client.force_login(recruiter)
    response = client.post(URL, _form(assessment_version, "Ann <ann@example.com>"))
    assert response.status_code == 403
    assert Invite.objects.count() == 0


def test_the_form_offers_assessments_with_a_loaded_version_and_the_email_box_is_ticked(signed_in, assessment_version):
    response = signed_in.get(URL)
    assert response.status_code == 200
    assert [a.slug for a in response.context["assessments"]] == [assessment_version.assessment.slug]
    assert b'name="send_email" role="switch" checked' in response.content
    assert f"At most {FORM_MAX_ROWS} lines".encode() in response.content


def test_the_dashboard_links_to_the_form(signed_in):
    assert f'href="{URL}"'.encode() in signed_in.get(reverse("recruiter_dashboard")).content


# Inviting


def test_one_candidate_is_invited_and_the_invitation_is_emailed(
    signed_in, recruiter, assessment_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = signed_in.post(URL, _form(assessment_version, "Ann Example <ann@example.com>"), follow=True)
    assert response.redirect_chain == [(reverse("recruiter_dashboard"), 302)]
    assert "Invited 1 candidate; their invitations are on the way." in response.content.decode()
    invite = Invite.objects.get()
    assert (invite.candidate.name, invite.candidate.email, invite.created_by) == (
        "Ann Example",
        "ann@example.com",
        recruiter,
    )
    assert repository_path(invite).is_dir()
    assert list(invite.emails.values_list("kind", "to", "status")) == [
        (Email.Kind.INVITATION, "ann@example.com", Email.Status.QUEUED)
    ]
    assert len(callbacks) == 1  # the send task, once the invite is committed


def test_many_candidates_are_invited_with_the_deadline_and_time_limit(signed_in, assessment_version):
    deadline = timezone.localtime() + timedelta(days=2)
    candidates = 'Ann Example <ann@example.com>\n\n  Bo Example, bo@example.com  \n"Doe, Cy" <cy@example.com>\n'
    form = _form(assessment_version, candidates, deadline=deadline.strftime("%Y-%m-%dT%H:%M"), time_limit_hours="4.5")
    response = signed_in.post(URL, form, follow=True)
    assert "Invited 3 candidates; their invitations are on the way." in response.content.decode()
    invites = Invite.objects.order_by("candidate__email")
    assert [i.candidate.name for i in invites] == ["Ann Example", "Bo Example", "Doe, Cy"]
    assert {i.time_limit for i in invites} == {timedelta(hours=4, minutes=30)}
    assert {i.deadline for i in invites} == {deadline.replace(second=0, microsecond=0)}
    assert Email.objects.count() == 3


def test_without_email_the_links_are_shown_once_and_they_work(signed_in, assessment_version, client):
    form = _form(assessment_version, "Ann <ann@example.com>\nBo <bo@example.com>", send_email=None)
    response = signed_in.post(URL, form)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "the portal keeps only a hash" in response.content.decode()
    assert Email.objects.count() == 0
    links = [item["link"] for item in response.context["links"]]
    assert len(links) == 2
    for link in links:
        assert link.encode() in response.content
        assert Client().get(urlsplit(link).path).status_code == 200


def test_a_formula_like_name_is_just_a_name(signed_in, assessment_version):
    name = '=HYPERLINK("http://evil.example","click")'
    signed_in.post(URL, _form(assessment_version, f"{name} <ann@example.com>", send_email=None))
    assert Candidate.objects.get().name == name


def test_a_known_candidate_is_invited_again_to_another_assessment_once_the_first_is_over(signed_in, assessment_version):
    first = make_invite(assessment_version, name="Ann Example", email="ann@example.com").invite
    Invite.objects.filter(pk=first.pk).update(status=Invite.Status.SUBMITTED)
    response = signed_in.post(URL, _form(assessment_version, "Ann E. <ANN@example.com>"))
    assert response.status_code == 302
    assert Candidate.objects.count() == 1
    assert Invite.objects.filter(status=Invite.Status.ACTIVE).count() == 1


# Refused input: a message, nothing created, the input kept


def _line_messages(response) -> list[str]:
    return [message for item in response.context["line_errors"] for message in item["messages"]]


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ("Ann <not-an-email>", "“not-an-email” is not an email address."),
        ("Ann, ann@example", "“ann@example” is not an email address."),
        ("Ann <ann@example.com>\nBo <ANN@example.com>", "ANN@example.com is also on line 1."),
        ("x" * 201 + " <ann@example.com>", "The name is longer than 200 characters."),
        ("Ann\x07Bell <ann@example.com>", "The name contains control characters."),
        ("Ann\u202eelpmaxE <ann@example.com>", "The name contains control characters."),
        ("<ann@example.com>", "The name is missing."),
        ("Ann Example ann@example.com", "Write it as Name <email> or Name, email."),
        ("Ann <" + "a" * 250 + "@example.com>", "The email address is longer than 254 characters."),
    ],
)
def test_a_wrong_line_is_refused_with_its_message(signed_in, assessment_version, candidates, message):
    response = _refused(signed_in, assessment_version, candidates)
    assert message in _line_messages(response)
    assert "Nothing was created" in response.content.decode()


def test_a_line_that_cannot_be_split_says_so_once(signed_in, assessment_version):
    response = _refused(signed_in, assessment_version, "Ann Example ann@example.com")
    assert _line_messages(response) == ["Write it as Name <email> or Name, email."]


def test_one_wrong_line_refuses_the_whole_batch_and_names_its_line(signed_in, assessment_version):
    response = _refused(signed_in, assessment_version, "Ann <ann@example.com>\n\nBo <bo@nowhere>\nCy <cy@example.com>")
    assert [item["line"] for item in response.context["line_errors"]] == [3]
    assert b'data-line="3"' in response.content


def test_a_candidate_with_an_active_invite_to_the_assessment_is_refused(signed_in, assessment_version):
    make_invite(assessment_version, name="Ann Example", email="ann@example.com")
    response = _refused(signed_in, assessment_version, "Bo <bo@example.com>\nAnn <Ann@Example.com>")
    slug = assessment_version.assessment.slug
    assert _line_messages(response) == [f"Ann@Example.com already has an active invite to {slug}."]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"assessment": "no-such-thing"}, "assessment", "There is no assessment “no-such-thing”"),
        ({"assessment": ""}, "assessment", "Choose an assessment."),
        ({"deadline": "2020-01-01T10:00"}, "deadline", "The deadline 2020-01-01T10:00 is in the past."),
        ({"deadline": "next friday"}, "deadline", "The deadline “next friday” is not a date and time"),
        ({"deadline": "9999-12-31T23:59-12:00"}, "deadline", "is too far in the future."),
        ({"time_limit_hours": "0"}, "time_limit_hours", "must be more than 0 and at most 720 hours"),
        ({"time_limit_hours": "-3"}, "time_limit_hours", "must be more than 0 and at most 720 hours"),
        ({"time_limit_hours": "721"}, "time_limit_hours", "must be more than 0 and at most 720 hours"),
        ({"time_limit_hours": "1e9"}, "time_limit_hours", "must be more than 0 and at most 720 hours"),
        ({"time_limit_hours": "nan"}, "time_limit_hours", "must be more than 0 and at most 720 hours"),
        ({"time_limit_hours": "two"}, "time_limit_hours", "The time limit “two” is not a number of hours."),
    ],
)
def test_a_wrong_shared_value_is_refused_once_at_its_input(signed_in, assessment_version, fields, field, message):
    response = _refused(signed_in, assessment_version, "Ann <ann@example.com>\nBo <bo@example.com>", **fields)
    [shown] = response.context["field_errors"][field]  # once, though both lines have it
    assert message in shown
    assert message.encode() in response.content.replace(b"&#x27;", b"'")
    for name, value in fields.items():
        assert response.context["values"][name] == value


def test_too_many_lines_are_refused_as_a_whole(signed_in, assessment_version):
    candidates = "\n".join(f"Candidate {n} <c{n}@example.com>" for n in range(FORM_MAX_ROWS + 1))
    response = _refused(signed_in, assessment_version, candidates)
    assert f"There are {FORM_MAX_ROWS + 1} candidates; at most {FORM_MAX_ROWS} can be invited at once." in (
        response.content.decode()
    )


def test_an_empty_list_is_refused(signed_in, assessment_version):
    response = _refused(signed_in, assessment_version, "  \n\n")
    assert "Add at least one candidate." in response.content.decode()


def test_an_unticked_email_box_stays_unticked_when_the_form_comes_back(signed_in, assessment_version):
    response = _refused(signed_in, assessment_version, "Ann <nope>", send_email=None)
    assert response.context["send_email"] is False
    assert b'role="switch" checked' not in response.content


@pytest.fixture
def broken_version(db):
    """A version whose snapshot is missing from the data directory: its repository cannot be made."""
    assessment = Assessment.objects.create(slug="broken", title="Broken")
    return AssessmentVersion.objects.create(
        assessment=assessment,
        content_hash="0" * 64,
        label="1",
        manifest={},
        package_dir="assessments/broken/missing",
        shipped_subdir="project",
    )


def _repositories() -> set:
    repos = data_dir() / "repos"
    return set(repos.iterdir()) if repos.is_dir() else set()


def test_a_failure_while_creating_is_shown_and_leaves_nothing_behind(signed_in, broken_version):
    before, repositories = _counts(), _repositories()
    response = signed_in.post(URL, _form(broken_version, "Ann <ann@example.com>"))
    assert response.status_code == 500
    assert "The invites could not be created, so none were" in response.content.decode()
    assert (_counts(), _repositories()) == (before, repositories)
    assert response.context["values"]["candidates"] == "Ann <ann@example.com>"


def test_repositories_made_before_a_failing_row_are_removed(recruiter, assessment_version, broken_version):
    before, repositories = _counts(), _repositories()
    rows = [
        InviteRequest(1, "Ann", "ann@example.com", assessment_version.assessment.slug),
        InviteRequest(2, "Bo", "bo@example.com", "broken"),
    ]
    with pytest.raises(Exception):  # noqa: B017 - whatever the disk raised, the caller reports it
        invitations_create(requests=rows, created_by=recruiter, max_rows=FORM_MAX_ROWS, send_email=True)
    assert (_counts(), _repositories()) == (before, repositories)
    assert Email.objects.count() == 0


def test_the_check_costs_the_same_queries_for_one_row_or_a_hundred(assessment_version, django_assert_max_num_queries):
    make_invite(assessment_version, email="taken@example.com")
    slug = assessment_version.assessment.slug
    rows = [InviteRequest(n, f"C {n}", f"c{n}@example.com", slug, "", "2") for n in range(FORM_MAX_ROWS - 1)]
    rows.append(InviteRequest(100, "Taken", "taken@example.com", slug))
    with django_assert_max_num_queries(2):
        check = invite_requests_check(rows, max_rows=FORM_MAX_ROWS)
    assert [row.request.line for row in check.rows_with_errors] == [100]


# The shared reading rules


def test_deadlines_are_read_as_iso_or_datetime_local_in_the_server_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    paris = ZoneInfo("Europe/Paris")
    assert parse_deadline("2030-06-01T17:00") == datetime(2030, 6, 1, 17, 0, tzinfo=paris)
    assert parse_deadline("2030-06-01 17:00:30") == datetime(2030, 6, 1, 17, 0, 30, tzinfo=paris)
    assert parse_deadline("2030-06-01T17:00Z") == datetime(2030, 6, 1, 17, 0, tzinfo=UTC)
    assert parse_deadline("2030-06-01T17:00+02:00") == datetime(2030, 6, 1, 15, 0, tzinfo=UTC)
    assert parse_deadline("2030-06-01") == datetime(2030, 6, 1, 23, 59, tzinfo=paris)  # a day means its end
    with pytest.raises(ValueError):
        parse_deadline("01/06/2030")


def test_lines_are_split_on_angle_brackets_or_the_last_comma():
    requests = requests_from_text(
        'Ann Example <ann@example.com>\n\n"Doe, Bo" <bo@example.com>\nDoe, Cy, cy@example.com\nno address',
        assessment="a",
        deadline="",
        time_limit_hours="",
    )
    assert [(r.line, r.name, r.email, r.problem != "") for r in requests] == [
        (1, "Ann Example", "ann@example.com", False),
        (3, "Doe, Bo", "bo@example.com", False),
        (4, "Doe, Cy", "cy@example.com", False),
        (5, "no address", "", True),
    ]
