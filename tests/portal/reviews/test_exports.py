"""The reviews CSV export and the printable report: who may have them, what they hold, what they hide."""

import csv
import io

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.assessments.models import Assessment
from portal.invites.models import Candidate
from portal.reviews.blind import alias
from portal.reviews.services import review_save
from tests.portal.reviews.conftest import BLIND_EMAIL, BLIND_NAME, FULL, blind_leaks, full_review, make_submitted

HOSTILE_NAME = '=HYPERLINK("http://x")'


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline="")))


# --- The CSV export ------------------------------------------------------------------


def test_the_export_is_refused_to_anonymous_users_and_to_those_without_the_recruiter_role(
    client, no_role_user, reviewer
):
    url = reverse("reviews_export")
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response["Location"]
    for user in (no_role_user, reviewer):
        client.force_login(user)
        assert client.get(url).status_code == 403


def test_recruiters_and_staff_get_one_row_per_submitted_review(
    client, recruiter, admin_user, reviewer, second_reviewer, submitted
):
    review_save(invite=submitted, reviewer=reviewer, **full_review(summary="Clear commits."))
    review_save(invite=submitted, reviewer=second_reviewer, **full_review(submit=False, summary="A draft."))
    for user in (recruiter, admin_user):
        client.force_login(user)
        response = client.get(reverse("reviews_export"))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response.streaming
        header, *rows = _csv(response)
        assert header == [
            "invite",
            "candidate",
            "assessment",
            "reviewer",
            "submitted at",
            "points earned",
            "points possible",
            "points contested",
            *FULL,
            "recommendation",
            "summary",
        ]
        assert len(rows) == 1  # the draft is not exported
        row = dict(zip(header, rows[0], strict=True))
        assert row["invite"] == submitted.public_id
        assert row["candidate"] == submitted.candidate.name
        assert row["reviewer"] == "victor"
        assert [row[key] for key in FULL] == list(FULL.values())
        assert (row["recommendation"], row["summary"]) == ("yes", "Clear commits.")


def test_a_hostile_name_and_summary_cannot_start_a_formula(client, recruiter, reviewer, submitted):
    Candidate.objects.filter(pk=submitted.candidate_id).update(name=HOSTILE_NAME)
    review_save(invite=submitted, reviewer=reviewer, **full_review(summary="-2+3 @SUM(A1) and more"))
    client.force_login(recruiter)
    header, row = _csv(client.get(reverse("reviews_export")))
    cells = dict(zip(header, row, strict=True))
    assert cells["candidate"] == "'" + HOSTILE_NAME
    assert cells["summary"] == "'-2+3 @SUM(A1) and more"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_the_export_keeps_to_one_assessment_when_asked(client, recruiter, reviewer, submitted):
    review_save(invite=submitted, reviewer=reviewer, **full_review())
    client.force_login(recruiter)
    url = reverse("reviews_export")
    mine = submitted.assessment_version.assessment_id
    assert len(_csv(client.get(url, {"assessment": mine}))) == 2
    other = Assessment.objects.create(title="Another", slug="another")
    assert len(_csv(client.get(url, {"assessment": other.pk}))) == 1  # the header alone
    for bad in ("nope", "99999", "1" * 40):
        assert client.get(url, {"assessment": bad}).status_code == 404


def test_the_calibration_page_links_to_the_export(client, recruiter, reviewer, submitted):
    review_save(invite=submitted, reviewer=reviewer, **full_review())
    client.force_login(recruiter)
    html = client.get(reverse("review_calibration")).content.decode()
    assert f'href="{reverse("reviews_export")}"' in html


def test_the_export_reads_a_flat_number_of_queries(client, recruiter, reviewer, second_reviewer, assessment_version):
    client.force_login(recruiter)

    def queries(reviews: int) -> int:
        for n in range(reviews):
            invite = make_submitted(assessment_version, name=f"Queried {reviews} {n}", days_ago=1)
            review_save(invite=invite, reviewer=reviewer if n % 2 else second_reviewer, **full_review())
        with CaptureQueriesContext(connection) as captured:
            rows = _csv(client.get(reverse("reviews_export")))
        return len(captured.captured_queries), len(rows)

    few, few_rows = queries(3)
    many, many_rows = queries(27)
    assert (few_rows, many_rows) == (4, 31)
    assert few == many


def test_a_blind_export_names_neither_the_candidate_nor_their_commits(client, recruiter, reviewer, blind_invite):
    review_save(
        invite=blind_invite,
        reviewer=reviewer,
        **full_review(summary=f"{BLIND_NAME} ({BLIND_EMAIL}) wrote clear commits as Ann Example."),
    )
    client.force_login(recruiter)
    header, row = _csv(client.get(reverse("reviews_export")))
    assert blind_leaks(",".join(row)) == []
    cells = dict(zip(header, row, strict=True))
    assert cells["candidate"] == alias(blind_invite)
    assert cells["summary"].startswith(alias(blind_invite))


# --- The printable report ---------------------------------------------------------------


def test_the_printable_report_follows_the_reports_permissions(
    client, no_role_user, recruiter, reviewer, second_reviewer, restricted
):
    url = reverse("invite_report_print", args=[restricted.public_id])
    assert client.get(url).status_code == 302
    for user in (no_role_user, recruiter, reviewer):  # reviewer: not named on this assessment
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(second_reviewer)
    response = client.get(url)
    assert response.status_code == 200
    assert "Print or save as PDF" in response.content.decode()
    client.force_login(second_reviewer)
    assert client.get(reverse("invite_report_print", args=["unknown"])).status_code == 404


def test_the_report_links_to_its_printable_form(client, reviewer, submitted):
    client.force_login(reviewer)
    html = client.get(reverse("invite_result", args=[submitted.public_id])).content.decode()
    assert reverse("invite_report_print", args=[submitted.public_id]) in html


def test_a_reviewer_sees_the_others_reviews_on_paper_only_after_submitting_their_own(
    client, reviewer, second_reviewer, recruiter_and_reviewer, submitted
):
    review_save(invite=submitted, reviewer=second_reviewer, **full_review(summary="Second opinion, strong tests."))
    url = reverse("invite_report_print", args=[submitted.public_id])
    client.force_login(reviewer)
    html = client.get(url).content.decode()
    assert "Second opinion" not in html
    assert "once you have submitted your own" in html

    review_save(invite=submitted, reviewer=reviewer, **full_review(summary="My own take."))
    html = client.get(url).content.decode()
    assert "Second opinion, strong tests." in html and "My own take." in html
    assert "wendy" in html and "Thought process" in html

    client.force_login(recruiter_and_reviewer)
    assert "Second opinion, strong tests." in client.get(url).content.decode()


def test_the_printed_summary_is_escaped(client, reviewer, submitted):
    review_save(invite=submitted, reviewer=reviewer, **full_review(summary="<script>alert(1)</script>"))
    client.force_login(reviewer)
    html = client.get(reverse("invite_report_print", args=[submitted.public_id])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_blind_printable_report_names_neither_the_candidate_nor_their_commits(client, reviewer, blind_invite):
    review_save(invite=blind_invite, reviewer=reviewer, **full_review(summary=f"Good work by {BLIND_NAME}."))
    client.force_login(reviewer)
    html = client.get(reverse("invite_report_print", args=[blind_invite.public_id])).content.decode()
    assert blind_leaks(html) == []
    assert alias(blind_invite) in html
    assert "Fix: Resolve issue #1 - pages" in html  # the commits are there, with the identity hidden
