"""Calibration: how strict each reviewer is and how often they agree, on a constructed set of reviews."""

import pytest
from django.urls import reverse

from portal.reviews.selectors import calibration
from portal.reviews.services import review_save

from .conftest import FULL, full_review, make_submitted

pytestmark = pytest.mark.engines


@pytest.fixture
def reviews(assessment_version, reviewer, second_reviewer, admin_user):
    """Two invites. On code quality: A victor 2, wendy 4, ada 4; B victor 1, wendy 2."""
    a = make_submitted(assessment_version, name="A One", days_ago=2)
    b = make_submitted(assessment_version, name="B One", days_ago=1)
    for invite, user, level in [(a, reviewer, "2"), (a, second_reviewer, "4"), (a, admin_user, "4")]:
        review_save(invite=invite, reviewer=user, **full_review(scores={**FULL, "code_quality": level}))
    for invite, user, level in [(b, reviewer, "1"), (b, second_reviewer, "2")]:
        review_save(invite=invite, reviewer=user, **full_review(scores={**FULL, "code_quality": level}))
    review_save(invite=b, reviewer=admin_user, **full_review(submit=False))  # drafts do not count


def test_calibration_per_reviewer_and_criterion(reviews, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        rows = {(r.reviewer, r.criterion): r for r in calibration()}
    victor = rows[("victor", "code_quality")]
    assert (victor.reviews, victor.mean) == (2, 1.5)
    assert victor.strictness == -1.5  # A: 2 - 4 = -2; B: 1 - 2 = -1
    assert (victor.agreement, victor.co_reviews) == (0.33, 3)  # A: |2-4|, |2-4|; B: |1-2|
    wendy = rows[("wendy", "code_quality")]
    assert (wendy.reviews, wendy.mean, wendy.strictness, wendy.agreement) == (2, 3, 1.0, 0.67)
    ada = rows[("ada", "code_quality")]
    assert (ada.reviews, ada.mean, ada.strictness, ada.agreement) == (1, 4, 1.0, 0.5)
    same = rows[("victor", "thought_process")]
    assert (same.strictness, same.agreement) == (0, 1.0)
    assert [r.criterion for r in calibration()][:3] == ["thought_process"] * 3


def test_calibration_filters_by_assessment(reviews, assessment_version):
    assert len(calibration(assessment=assessment_version.assessment)) == 12
    assert calibration(assessment=None) == calibration(assessment=assessment_version.assessment)


def test_the_calibration_page_shows_the_table(client, reviews, recruiter):
    client.force_login(recruiter)
    page = client.get(reverse("review_calibration")).content.decode()
    assert "<h2>Code quality</h2>" in page and "-1.50" in page and "33%" in page
    assert "code_quality" not in page  # criteria by their titles, not their keys
