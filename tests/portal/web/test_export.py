"""The CSV export: the dashboard's filters, one row per invite, safe to open in a spreadsheet."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.hosting.services import fetch_record
from portal.invites.services import invite_submit
from tests.portal.web.test_dashboard import STATES, _bulk_invites, _invite
from tests.support.factories import push_branches, store_verdicts

pytestmark = pytest.mark.engines

URL = reverse("recruiter_export")


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_it_is_for_recruiters_only(client, reviewer, no_role_user):
    assert client.get(URL).status_code == 302
    for user in (reviewer, no_role_user):
        client.force_login(user)
        assert client.get(URL).status_code == 403


def test_it_streams_one_row_per_invite_with_a_dated_filename(signed_in, assessment_version):
    _invite(assessment_version, name="Ann")
    response = signed_in.get(URL)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="candidates-{today}.csv"'
    (row,) = _csv(response)
    assert row["candidate"] == "Ann"
    assert row["assessment"] == assessment_version.assessment.title
    assert row["version"] == f"{assessment_version.label} ({assessment_version.short_hash})"
    assert row["stage"] == "invited"
    assert row["points earned"] == row["percent"] == row["ticket 1"] == ""


def test_a_scored_invite_has_its_points_percent_and_a_column_per_ticket(signed_in, assessment_version):
    invite = _invite(assessment_version, name="Ann")
    fetch_record(invite=invite, address="127.0.0.1")
    push_branches(invite, 2)
    store_verdicts(invite, passing=frozenset({1}))
    invite_submit(invite=invite)
    (row,) = _csv(signed_in.get(URL))
    assert (row["points earned"], row["points possible"], row["percent"]) == ("15", "100", "15.0")
    assert (row["ticket 1"], row["ticket 2"], row["ticket 3"]) == ("pass", "fail", "")  # no issue-3 branch
    assert row["stage"] == "scored"
    assert row["started at"] and row["submitted at"]
    tickets = [n["number"] for n in assessment_version.manifest["tickets"]]
    assert [k for k in row if k.startswith("ticket ")] == [f"ticket {n}" for n in sorted(tickets)]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"])
def test_a_name_that_would_run_as_a_formula_gets_a_leading_apostrophe(signed_in, assessment_version, name):
    _invite(assessment_version, name=name)
    (row,) = _csv(signed_in.get(URL))
    assert row["candidate"] == "'" + name


def test_unicode_names_survive(signed_in, assessment_version):
    _invite(assessment_version, name="Zoë Łukasiewicz 山田")
    _invite(assessment_version, name='Ann "Quote", Comma\nNewline')
    names = {row["candidate"] for row in _csv(signed_in.get(URL, {"sort": "name"}))}
    assert names == {"Zoë Łukasiewicz 山田", 'Ann "Quote", Comma\nNewline'}


def test_it_honours_the_dashboards_filters_and_sort(signed_in, assessment_version):
    STATES["opened"](_invite(assessment_version, name="Bo Opened", email="bo@example.com"))
    STATES["opened"](_invite(assessment_version, name="Ann Opened", email="ann@corp.example"))
    _invite(assessment_version, name="Cy Invited")
    slug = assessment_version.assessment.slug
    rows = _csv(signed_in.get(URL, {"assessment": slug, "stage": "opened", "sort": "name"}))
    assert [r["candidate"] for r in rows] == ["Ann Opened", "Bo Opened"]
    assert [r["candidate"] for r in _csv(signed_in.get(URL, {"q": "CORP"}))] == ["Ann Opened"]
    assert _csv(signed_in.get(URL, {"assessment": "no-such-assessment", "stage": "hired"})) != []
    assert _csv(signed_in.get(URL, {"q": "nobody"})) == []


def test_the_number_of_queries_is_flat_in_the_number_of_invites(
    signed_in, assessment_version, django_assert_max_num_queries
):
    for state in ("opened", "scored", "revoked"):
        STATES[state](_invite(assessment_version, name=state))
    signed_in.get(URL)
    with django_assert_max_num_queries(10) as at_three:
        assert len(_csv(signed_in.get(URL))) == 3
    _bulk_invites(assessment_version, 27)
    with django_assert_max_num_queries(len(at_three.captured_queries)):
        assert len(_csv(signed_in.get(URL))) == 30
