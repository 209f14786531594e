"""The reviewer's pages: who may open them, what they show, and what a forged form gets."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.invites.models import Event
from portal.reviews.models import Assignment, Review
from portal.reviews.services import review_save

from .conftest import FULL, full_review

PERSONAS = ["anonymous", "no_role_user", "recruiter", "reviewer", "left_out", "admin_user"]


def _client(client, request, persona):
    if persona == "left_out":  # a reviewer the assessment does not name
        request.getfixturevalue("restricted")
        persona = "reviewer"
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    return client


def _pages(invite):
    return {
        "queue": reverse("review_queue"),
        "form": reverse("review_form", args=[invite.public_id]),
        "calibration": reverse("review_calibration"),
    }


EXPECTED = {
    # persona: queue, review form, calibration
    "anonymous": (302, 302, 302),
    "no_role_user": (403, 403, 403),
    "recruiter": (403, 200, 200),
    "reviewer": (200, 200, 403),
    "left_out": (200, 403, 403),
    "admin_user": (200, 200, 200),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_open_each_page(client, request, submitted, persona):
    client = _client(client, request, persona)
    pages = _pages(submitted)
    got = tuple(client.get(pages[name]).status_code for name in ("queue", "form", "calibration"))
    assert got == EXPECTED[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_post_a_review_take_or_assign(client, request, submitted, reviewer, persona):
    client = _client(client, request, persona)
    form = client.post(reverse("review_form", args=[submitted.public_id]), {"score_thought_process": "2"})
    take = client.post(reverse("review_take", args=[submitted.public_id]))
    assign = client.post(reverse("review_assign", args=[submitted.public_id]), {"reviewer": reviewer.pk})
    may_review = persona in ("reviewer", "admin_user")
    assert Review.objects.filter(invite=submitted).exists() == may_review
    assert form.status_code == (302 if may_review or persona == "anonymous" else 403)
    assert take.status_code == (302 if persona in ("anonymous", "reviewer", "left_out", "admin_user") else 403)
    assert assign.status_code == (302 if persona in ("anonymous", "recruiter", "admin_user") else 403)
    assigned = set(Assignment.objects.values_list("reviewer__username", flat=True))
    expected = {"anonymous": set(), "reviewer": {"victor"}, "recruiter": {"victor"}, "admin_user": {"ada", "victor"}}
    assert assigned == expected.get(persona, set())


def test_the_queue_page_lists_tabs_waiting_time_and_links(client, submitted, reviewer):
    client.force_login(reviewer)
    page = client.get(reverse("review_queue")).content.decode()
    for text in ["Mine", "Unassigned", "Done", "All", "just now", ">Take<", "Ann Example"]:
        assert text in page
    assert reverse("invite_result", args=[submitted.public_id]) in page
    assert reverse("review_form", args=[submitted.public_id]) in page
    client.post(reverse("review_take", args=[submitted.public_id]), {"next": "https://evil.example/"})
    mine = client.get(reverse("review_queue")).content.decode()  # opens on my work now
    assert 'aria-current="page">Mine' in mine and "victor" in mine and ">Take<" not in mine


def test_the_form_shows_anchored_levels_and_suggestions_without_choosing(client, submitted, reviewer):
    client.force_login(reviewer)
    page = client.get(reverse("review_form", args=[submitted.public_id])).content.decode()
    assert "Hides symptoms" in page and "Finds root causes" in page
    assert "Suggested: 1 — no pull requests" in page
    assert " checked>" not in page
    assert "Save draft" in page and "Submit review" in page and "Strong no" in page


def test_draft_then_submit_through_the_form(client, submitted, reviewer):
    client.force_login(reviewer)
    url = reverse("review_form", args=[submitted.public_id])
    fields = {f"score_{key}": level for key, level in FULL.items()} | {"recommendation": "no", "summary": "Hm."}
    response = client.post(url, {**fields, "draft": "1"}, follow=True)
    assert "Your draft was saved." in response.content.decode()
    unconfirmed = client.post(url, {**fields, "submit": "1"}, follow=True).content.decode()
    assert "confirm that you have finished" in unconfirmed
    assert Review.objects.get().status == Review.Status.DRAFT
    done = client.post(url, {**fields, "submit": "1", "confirm": "yes"}, follow=True).content.decode()
    assert "Your review was submitted." in done and "Your review" in done and "Submit review" not in done
    assert Event.objects.filter(invite=submitted, kind=Event.Kind.REVIEWED).count() == 1


def test_a_forged_criterion_or_level_is_refused_with_a_sentence(client, submitted, reviewer):
    client.force_login(reviewer)
    url = reverse("review_form", args=[submitted.public_id])
    forged = client.post(url, {"score_charisma": "4", "draft": "1"}, follow=True).content.decode()
    assert "There is no criterion" in forged and "charisma" in forged
    out_of_range = client.post(url, {"score_code_quality": "9", "draft": "1"}, follow=True).content.decode()
    assert "must be 1, 2, 3 or 4" in out_of_range
    assert not Review.objects.exists()


def test_posts_without_a_csrf_token_are_refused(submitted, reviewer, recruiter):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert client.post(reverse("review_form", args=[submitted.public_id]), {"draft": "1"}).status_code == 403
    assert client.post(reverse("review_take", args=[submitted.public_id])).status_code == 403
    client.force_login(recruiter)
    assert client.post(reverse("review_assign", args=[submitted.public_id]), {"reviewer": "1"}).status_code == 403
    assert not Review.objects.exists() and not Assignment.objects.exists()


def test_others_reviews_are_not_on_my_page_until_i_submit(client, submitted, reviewer, second_reviewer, recruiter):
    review_save(
        invite=submitted, reviewer=second_reviewer, **full_review(summary="Secret opinion", recommendation="strong_no")
    )
    client.force_login(reviewer)
    url = reverse("review_form", args=[submitted.public_id])
    before = client.get(url).content.decode()
    assert "Submitted reviews" not in before and "wendy" not in before and "Strong no</strong>" not in before
    review_save(invite=submitted, reviewer=reviewer, **full_review())
    after = client.get(url).content.decode()
    assert "Submitted reviews" in after and "wendy: <strong>Strong no</strong>" in after
    client.force_login(recruiter)
    recruiters_view = client.get(url).content.decode()
    assert "Secret opinion" in recruiters_view and "Submit review" not in recruiters_view


def test_a_recruiter_assigns_from_the_review_page(client, submitted, reviewer, recruiter):
    client.force_login(recruiter)
    page = client.get(reverse("review_form", args=[submitted.public_id])).content.decode()
    assert f'<option value="{reviewer.pk}">victor</option>' in page and '">rita</option>' not in page
    response = client.post(reverse("review_assign", args=[submitted.public_id]), {"reviewer": "1; DROP"}, follow=True)
    assert "Choose a reviewer from the list." in response.content.decode()
    client.post(reverse("review_assign", args=[submitted.public_id]), {"reviewer": reviewer.pk})
    assert list(Assignment.objects.values_list("reviewer__username", flat=True)) == ["victor"]


def test_the_result_page_links_to_the_review_form(client, submitted, reviewer):
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[submitted.public_id])).content.decode()
    assert "Score this candidate" in page and reverse("review_form", args=[submitted.public_id]) in page
