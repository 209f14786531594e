"""Rubrics: the default one, validation of their shape, and new versions instead of edits."""

import copy
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from portal.reviews.models import Rubric
from portal.reviews.rubrics import DEFAULT_CRITERIA
from portal.reviews.services import ReviewRefused, review_save, rubric_create, rubric_current

from .conftest import full_review


def test_an_assessment_without_a_rubric_gets_the_default_once(assessment_version):
    assessment = assessment_version.assessment
    first = rubric_current(assessment)
    assert rubric_current(assessment) == first and first.version == 1
    assert first.keys == ["thought_process", "version_control", "code_quality", "communication"]
    assert all(sorted(c["levels"]) == ["1", "2", "3", "4"] for c in first.criteria)


def _criteria(change):
    criteria = copy.deepcopy(DEFAULT_CRITERIA)
    change(criteria)
    return criteria


@pytest.mark.parametrize(
    "criteria, message",
    [
        ([], "non-empty list"),
        ({"key": "x"}, "non-empty list"),
        (_criteria(lambda c: c[1].update(key="thought_process")), "used twice"),
        (_criteria(lambda c: c[0].update(key="Thought Process")), "must be a slug"),
        (_criteria(lambda c: c[0]["levels"].pop("4")), "exactly 1, 2, 3 and 4"),
        (_criteria(lambda c: c[0]["levels"].update({"5": "extra"})), "exactly 1, 2, 3 and 4"),
        (_criteria(lambda c: c[0]["levels"].update({"2": "  "})), "level 2 needs a description"),
        (_criteria(lambda c: c[0].update(title="")), "the title must be a non-empty text"),
        (_criteria(lambda c: c[0].update(weight=3)), "unknown fields: weight"),
        (["thought_process"], "must be an object"),
    ],
)
def test_malformed_criteria_are_refused_by_the_service_and_the_model(assessment_version, criteria, message):
    assessment = assessment_version.assessment
    with pytest.raises(ReviewRefused, match=message):
        rubric_create(assessment=assessment, criteria=criteria)
    with pytest.raises(ValidationError, match=message):
        Rubric(assessment=assessment, criteria=criteria).full_clean()
    assert not Rubric.objects.exists()


def test_a_new_rubric_is_the_next_version(assessment_version):
    assessment = assessment_version.assessment
    rubric_current(assessment)
    second = rubric_create(assessment=assessment, criteria=DEFAULT_CRITERIA[:2])
    assert second.version == 2 and rubric_current(assessment) == second


def _admin_change(client, rubric, criteria):
    url = reverse("admin:reviews_rubric_change", args=[rubric.pk])
    return client.post(url, {"criteria": json.dumps(criteria)}, follow=True)


def test_changing_a_rubric_with_reviews_in_the_admin_saves_version_2(client, admin_user, submitted, reviewer):
    review = review_save(invite=submitted, reviewer=reviewer, **full_review())
    v1 = review.rubric
    client.force_login(admin_user)
    changed = _criteria(lambda c: c[0]["levels"].update({"1": "Patches the symptom only."}))
    response = _admin_change(client, v1, changed)
    assert "saved as version 2" in response.content.decode()
    v1.refresh_from_db()
    review.refresh_from_db()
    assert v1.criteria == DEFAULT_CRITERIA and review.rubric == v1
    v2 = Rubric.objects.get(version=2)
    assert v2.criteria == changed and v2.assessment == v1.assessment
    assert rubric_current(v1.assessment) == v2


def test_a_rubric_without_reviews_is_edited_in_place_and_bad_json_is_refused(client, admin_user, assessment_version):
    rubric = rubric_current(assessment_version.assessment)
    client.force_login(admin_user)
    changed = _criteria(lambda c: c.pop())
    _admin_change(client, rubric, changed)
    rubric.refresh_from_db()
    assert rubric.version == 1 and rubric.criteria == changed and Rubric.objects.count() == 1
    refused = _admin_change(client, rubric, _criteria(lambda c: c[0]["levels"].pop("1")))
    assert "exactly 1, 2, 3 and 4" in refused.content.decode()
    rubric.refresh_from_db()
    assert rubric.criteria == changed
