"""The CSV import: upload, a preview of every row, a signed confirmation checked again, all or nothing."""

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.hosting.models import Repository
from portal.invites.models import Candidate, Email, Invite
from portal.pipeline.invitations import CSV_MAX_BYTES, CSV_MAX_ROWS
from portal.web.inviting import IMPORT_MAX_AGE, IMPORT_SALT
from tests.support.factories import make_invite

pytestmark = pytest.mark.engines

URL = reverse("recruiter_import")


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _csv(text: str | bytes, name: str = "candidates.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _upload(client, text, **defaults):
    return client.post(URL, {"file": _csv(text), **defaults})


def _confirm(client, preview, *, send_email: bool = True):
    form = {"payload": preview.context["payload"]}
    if send_email:
        form["send_email"] = "on"
    return client.post(URL, form)


def _counts() -> tuple[int, int, int]:
    return Invite.objects.count(), Candidate.objects.count(), Repository.objects.count()


def _row_errors(preview) -> dict[int, list[str]]:
    return {row.request.line: [e.message for e in row.errors] for row in preview.context["check"].rows_with_errors}


def _later(days: int = 3) -> str:
    return (timezone.localtime() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# Who may use it


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["reviewer", "no_role_user"])
def test_users_without_the_recruiter_role_are_refused(client, assessment_version, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403
    assert _upload(client, "name,email\nAnn,ann@example.com\n").status_code == 403


def test_a_confirmation_without_the_csrf_token_is_refused(recruiter, assessment_version):
    client = Client(enforce_csrf_checks=True)
    client.force_login(recruiter)
    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    slug = assessment_version.assessment.slug
    upload = {"file": _csv("name,email\nAnn,ann@example.com\n"), "assessment": slug, "csrfmiddlewaretoken": token}
    preview = client.post(URL, upload)
    assert preview.context["payload"]
    assert client.post(URL, {"payload": preview.context["payload"]}).status_code == 403
    assert Invite.objects.count() == 0


def test_the_dashboard_links_to_the_import(signed_in):
    assert f'href="{URL}"'.encode() in signed_in.get(reverse("recruiter_dashboard")).content


def test_the_page_states_the_limits(signed_in):
    text = signed_in.get(URL).content.decode()
    assert f"at most 1 MB and {CSV_MAX_ROWS} candidates" in text


# Preview and confirm


def test_the_preview_shows_every_row_ready_and_the_confirmation_imports_them(signed_in, assessment_version, recruiter):
    slug = assessment_version.assessment.slug
    text = f"name,email,assessment,deadline,time_limit_hours\nAnn Example,ann@example.com,{slug},{_later()},4\n"
    text += "Bo Example,bo@example.com,,,\n"
    preview = _upload(signed_in, text, assessment=slug, time_limit_hours="2")
    assert preview.status_code == 200
    assert [row.ok for row in preview.context["check"].rows] == [True, True]
    assert preview.content.decode().count(">ready<") == 2
    assert b'name="payload"' in preview.content
    assert b'name="send_email" role="switch" checked' in preview.content
    assert Invite.objects.count() == 0  # a preview creates nothing

    response = _confirm(signed_in, preview)
    assert response.status_code == 302
    invites = {i.candidate.email: i for i in Invite.objects.all()}
    assert invites["ann@example.com"].time_limit == timedelta(hours=4)
    assert invites["bo@example.com"].time_limit == timedelta(hours=2)  # the form's default fills the empty cell
    assert invites["bo@example.com"].deadline is None
    assert {i.created_by for i in invites.values()} == {recruiter}
    assert Email.objects.filter(kind=Email.Kind.INVITATION).count() == 2


def test_without_email_the_confirmation_shows_working_links(signed_in, assessment_version):
    preview = _upload(signed_in, "name,email\nAnn,ann@example.com\n", assessment=assessment_version.assessment.slug)
    response = _confirm(signed_in, preview, send_email=False)
    assert response.status_code == 200
    assert Email.objects.count() == 0
    [item] = response.context["links"]
    assert Client().get(urlsplit(item["link"]).path).status_code == 200


def test_headers_in_any_order_and_case_with_a_bom_and_extra_columns_are_read(signed_in, assessment_version):
    slug = assessment_version.assessment.slug
    text = f"\ufeffNotes, EMAIL ,Time Limit Hours,Name,ASSESSMENT\r\nlikes go,ann@example.com,3,Ann,{slug}\r\n"
    preview = _upload(signed_in, text.encode("utf-8"))
    [row] = preview.context["check"].rows
    assert (row.request.name, row.request.email, row.request.time_limit_hours) == ("Ann", "ann@example.com", "3")
    assert row.ok
    assert preview.context["ignored_columns"] == ["Notes"]


def test_a_formula_like_name_is_imported_as_text(signed_in, assessment_version):
    name = '=HYPERLINK("http://evil.example","click")'
    text = 'name,email\n"=HYPERLINK(""http://evil.example"",""click"")",ann@example.com\n'
    preview = _upload(signed_in, text, assessment=assessment_version.assessment.slug)
    assert preview.context["check"].rows[0].request.name == name
    _confirm(signed_in, preview)
    assert Candidate.objects.get().name == name


# Rows that are wrong: shown in the preview, and nothing can be confirmed


def test_wrong_rows_are_shown_with_their_errors_and_block_the_whole_file(signed_in, assessment_version):
    slug = assessment_version.assessment.slug
    make_invite(assessment_version, email="taken@example.com")
    text = "\n".join(
        [
            "name,email,assessment,deadline,time_limit_hours",
            f"Ann,ann@example.com,{slug},,",
            f"Bo,not-an-email,{slug},,",
            f"Cy,ANN@example.com,{slug},,",
            "Di,di@example.com,nope,,",
            f"Ed,ed@example.com,{slug},2020-01-01,",
            f"Flo,flo@example.com,{slug},,0",
            f"Gus,taken@example.com,{slug},,",
            f"Hal,hal@example.com,{slug}",
            f"Ida,ida@example.com,{slug},,,surplus",
            f"{'x' * 201},long@example.com,{slug},,",
        ]
    )
    before = _counts()
    preview = _upload(signed_in, text)
    errors = _row_errors(preview)
    assert list(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11]  # row 2 is ready
    assert errors[3] == ["“not-an-email” is not an email address."]
    assert errors[4] == ["ANN@example.com is also on line 2."]
    assert "There is no assessment “nope”" in errors[5][0]
    assert errors[6] == ["The deadline 2020-01-01 is in the past."]
    assert "must be more than 0" in errors[7][0]
    assert errors[8] == [f"taken@example.com already has an active invite to {slug}."]
    assert errors[9] == ["This row has 3 fields; the header has 5."]
    assert errors[10] == ["This row has 6 fields; the header has 5."]
    assert errors[11] == ["The name is longer than 200 characters."]
    assert preview.context["payload"] == ""
    assert b'name="payload"' not in preview.content
    assert "Nothing can be imported while a row is wrong" in preview.content.decode()
    assert _counts() == before


def test_a_file_of_semicolons_is_refused_with_a_hint(signed_in, assessment_version):
    response = _upload(signed_in, "name;email\nAnn;ann@example.com\n")
    assert response.status_code == 400
    assert "separated by semicolons or tabs; save it with commas" in response.content.decode()


# Files that cannot be read at all


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("name,email\nAnn,ann@example.com\n".encode("utf-16"), "The file is not UTF-8 text."),
        ("name,email\nJosé,jose@example.com\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf \r\n", "The file is empty."),
        (b"Ann,ann@example.com\n", "The first row must name the columns"),
        (b"name,mail\nAnn,ann@example.com\n", "(missing: email)"),
        (b"name,email,Email\nAnn,a@example.com,b@example.com\n", "more than once: email"),
        (b"name,email\n", "The file has a header row but no candidates."),
        (b'name,email\n"Ann,ann@example.com\n', "Row 2 cannot be read as CSV"),
    ],
)
def test_an_unreadable_file_is_refused_with_a_clear_error(signed_in, assessment_version, data, message):
    response = _upload(signed_in, data, assessment=assessment_version.assessment.slug)
    assert response.status_code == 400
    assert message in response.context["error"]
    assert Invite.objects.count() == 0


def test_a_file_over_the_row_cap_is_refused(signed_in, assessment_version):
    rows = "".join(f"C {n},c{n}@example.com\n" for n in range(CSV_MAX_ROWS + 1))
    response = _upload(signed_in, "name,email\n" + rows, assessment=assessment_version.assessment.slug)
    assert response.status_code == 400
    assert f"The file has {CSV_MAX_ROWS + 1} candidates; at most {CSV_MAX_ROWS}" in response.context["error"]


def test_a_file_over_one_megabyte_is_refused(signed_in, assessment_version):
    data = b"name,email\n" + b"Ann,ann@example.com," + b"x" * CSV_MAX_BYTES + b"\n"
    response = _upload(signed_in, data)
    assert response.status_code == 400
    assert "The file is larger than 1 MB" in response.context["error"]


def test_no_file_is_refused(signed_in):
    response = signed_in.post(URL, {"assessment": ""})
    assert response.status_code == 400
    assert response.context["error"] == "Choose a CSV file to upload."


# The confirmation


def test_a_tampered_confirmation_imports_nothing(signed_in, assessment_version):
    preview = _upload(signed_in, "name,email\nAnn,ann@example.com\n", assessment=assessment_version.assessment.slug)
    payload = preview.context["payload"]
    forged = signing.dumps(
        {"by": 1, "rows": [[2, "Mallory", "m@example.com", "x", "", "", ""]]}, salt="another salt", compress=True
    )
    for bad in (payload[:-2] + "xx", forged, "garbage"):
        response = signed_in.post(URL, {"payload": bad, "send_email": "on"})
        assert response.status_code == 400
        assert "The confirmation was altered or damaged" in response.context["error"]
    assert _counts() == (0, 0, 0)


def test_a_confirmation_is_only_good_for_the_recruiter_who_previewed(
    signed_in, recruiter_and_reviewer, assessment_version
):
    preview = _upload(signed_in, "name,email\nAnn,ann@example.com\n", assessment=assessment_version.assessment.slug)
    other = Client()
    other.force_login(recruiter_and_reviewer)
    response = other.post(URL, {"payload": preview.context["payload"]})
    assert response.status_code == 400
    assert Invite.objects.count() == 0


class _SignedLongAgo(signing.TimestampSigner):
    def timestamp(self):
        return signing.b62_encode(int(time.time()) - IMPORT_MAX_AGE - 5)


def test_an_expired_confirmation_imports_nothing(signed_in, assessment_version):
    preview = _upload(signed_in, "name,email\nAnn,ann@example.com\n", assessment=assessment_version.assessment.slug)
    data = signing.loads(preview.context["payload"], salt=IMPORT_SALT)
    expired = _SignedLongAgo(salt=IMPORT_SALT).sign_object(data, compress=True)
    response = signed_in.post(URL, {"payload": expired, "send_email": "on"})
    assert response.status_code == 400
    assert "This preview is more than an hour old" in response.context["error"]
    assert Invite.objects.count() == 0


def test_a_confirmation_after_someone_else_invited_the_same_person_imports_nothing(signed_in, assessment_version):
    slug = assessment_version.assessment.slug
    preview = _upload(signed_in, "name,email\nAnn,ann@example.com\nBo,bo@example.com\n", assessment=slug)
    make_invite(assessment_version, name="Bo", email="bo@example.com")  # meanwhile, from the form
    before = _counts()
    response = _confirm(signed_in, preview)
    assert response.status_code == 400
    assert "Something changed since the preview, so nothing was imported." in response.content.decode()
    assert _row_errors(response) == {3: [f"bo@example.com already has an active invite to {slug}."]}
    assert _counts() == before
    assert Email.objects.count() == 0
