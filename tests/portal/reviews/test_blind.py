"""Blind review: on a blind assessment, no page a reviewer reaches names the candidate.

The test scans every such page for the candidate's name and email and for the author name and
email of their commits (tests.portal.reviews.conftest: blind_invite, blind_leaks).
"""

from django.urls import reverse

from portal.assessments.models import Assessment
from portal.hosting.models import Push
from portal.reviews.blind import alias
from portal.reviews.services import assignment_take, review_save
from tests.portal.reviews.conftest import BLIND_NAME, blind_leaks, full_review


def _pages(invite) -> list[str]:
    push = Push.objects.filter(invite=invite).first()
    return [
        reverse("review_queue") + "?view=all",
        reverse("review_queue") + "?view=unassigned",
        reverse("review_queue") + "?view=mine",
        reverse("review_queue") + "?view=done",
        reverse("invite_result", args=[invite.public_id]),
        reverse("invite_result", args=[invite.public_id]) + f"?at={push.pk}",
        reverse("invite_result_runs", args=[invite.public_id]),
        reverse("invite_result_live", args=[invite.public_id]) + "?shown=none",
        reverse("invite_report_print", args=[invite.public_id]),
        reverse("review_form", args=[invite.public_id]),
        reverse("invite_pulls_review", args=[invite.public_id]),
    ]


def test_no_page_a_reviewer_reaches_names_the_candidate(client, reviewer, blind_invite):
    client.force_login(reviewer)
    assignment_take(invite=blind_invite, user=reviewer)
    shown = alias(blind_invite)
    for url in _pages(blind_invite):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert blind_leaks(html) == [], url
    report = client.get(reverse("invite_result", args=[blind_invite.public_id])).content.decode()
    assert shown in report  # the commits and the diff name the alias instead
    assert "candidate@hidden.invalid" in report

    review_save(invite=blind_invite, reviewer=reviewer, **full_review())
    for url in _pages(blind_invite):
        assert blind_leaks(client.get(url).content.decode()) == [], url


def test_the_same_pages_name_the_candidate_when_the_assessment_is_not_blind(client, reviewer, blind_invite):
    Assessment.objects.update(blind_review=False)
    client.force_login(reviewer)
    report = client.get(reverse("invite_result", args=[blind_invite.public_id])).content.decode()
    assert BLIND_NAME in report and "Ann Example" in report
    assert alias(blind_invite) not in report


def test_hiding_keeps_words_that_merely_contain_a_name(client, reviewer, blind_invite):
    """Whole words only: hiding "Ann Example" leaves "Annotation" and "examples" alone."""
    from portal.reviews.blind import Identity, scrub

    identity = Identity(alias="Candidate X", names=("Ann",), emails=())
    assert scrub("Annotation by Ann, for ann.", [identity]) == "Annotation by Candidate X, for Candidate X."
