"""Saving and submitting a review: drafts, validation, frozen submissions, and who sees what."""

import pytest

from portal.invites.models import Event
from portal.reviews.models import Review
from portal.reviews.selectors import invite_recommendations, review_aggregate
from portal.reviews.services import ReviewIncomplete, ReviewRefused, review_save

from .conftest import FULL, full_review

pytestmark = pytest.mark.engines


def test_a_draft_may_be_partial_and_is_completed_then_submitted(submitted, reviewer):
    draft = review_save(
        invite=submitted,
        reviewer=reviewer,
        scores={"thought_process": "2"},
        comments={"thought_process": "hm"},
        recommendation="",
        summary="",
        submit=False,
    )
    assert draft.status == Review.Status.DRAFT and draft.scores == {"thought_process": 2}
    assert draft.rubric.version == 1 and draft.rubric.keys == list(FULL)
    review = review_save(invite=submitted, reviewer=reviewer, **full_review())
    assert review.pk == draft.pk and review.submitted and review.submitted_at is not None
    assert review.scores == {key: int(level) for key, level in FULL.items()}
    assert review.comments == {}


def test_submitting_an_incomplete_review_is_refused_and_the_draft_is_kept(submitted, reviewer):
    scores = {"thought_process": "3", "code_quality": "1"}
    with pytest.raises(ReviewIncomplete, match="Version control, Communication, the recommendation"):
        review_save(invite=submitted, reviewer=reviewer, **full_review(scores=scores, recommendation=""))
    review = Review.objects.get(invite=submitted, reviewer=reviewer)
    assert review.status == Review.Status.DRAFT
    assert review.scores == {"thought_process": 3, "code_quality": 1}
    assert review.summary == "Solid work."
    assert not Event.objects.filter(invite=submitted, kind=Event.Kind.REVIEWED).exists()


def test_a_submitted_review_can_no_longer_change(submitted, reviewer):
    review_save(invite=submitted, reviewer=reviewer, **full_review())
    with pytest.raises(ReviewRefused, match="it can no longer change"):
        review_save(invite=submitted, reviewer=reviewer, **full_review(recommendation="strong_no", submit=False))
    assert Review.objects.get(invite=submitted, reviewer=reviewer).recommendation == "yes"


def test_the_first_submitted_review_records_one_reviewed_event(submitted, reviewer, second_reviewer):
    review_save(invite=submitted, reviewer=reviewer, **full_review(recommendation="strong_yes"))
    review_save(invite=submitted, reviewer=second_reviewer, **full_review(recommendation="no"))
    events = list(Event.objects.filter(invite=submitted, kind=Event.Kind.REVIEWED))
    assert len(events) == 1
    assert events[0].data == {"reviewer": "victor", "recommendation": "strong_yes"}


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"scores": {**FULL, "thought_process": "5"}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "thought_process": "0"}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "thought_process": "three"}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "thought_process": 2.5}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "thought_process": True}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "thought_process": ["3"]}}, "must be 1, 2, 3 or 4"),
        ({"scores": {**FULL, "charisma": "4"}}, "no criterion 'charisma'"),
        ({"scores": "4444"}, "per criterion"),
        ({"comments": {"charisma": "nice"}}, "no criterion 'charisma'"),
        ({"comments": {"code_quality": "x" * 5001}}, "at most 5,000"),
        ({"summary": "x" * 10_001}, "at most 10,000"),
        ({"summary": {"html": "<b>"}}, "must be text"),
        ({"recommendation": "hire_now"}, "must be one of: Strong no, No, Yes, Strong yes"),
        ({"recommendation": ["yes"]}, "must be one of"),
    ],
)
def test_hostile_input_is_refused_and_nothing_is_saved(submitted, reviewer, fields, message):
    with pytest.raises(ReviewRefused, match=message):
        review_save(invite=submitted, reviewer=reviewer, **full_review(**fields))
    assert not Review.objects.filter(invite=submitted).exists()


def test_integer_levels_are_accepted_as_well_as_the_forms_text(submitted, reviewer):
    scores = {key: int(level) for key, level in FULL.items()}
    assert review_save(invite=submitted, reviewer=reviewer, **full_review(scores=scores)).scores == scores


def test_work_that_is_not_submitted_cannot_be_reviewed(invite, reviewer):
    with pytest.raises(ReviewRefused, match=r"Only submitted work can be reviewed\."):
        review_save(invite=invite, reviewer=reviewer, **full_review())


def test_a_reviewer_left_out_of_the_assessment_cannot_review(restricted, reviewer):
    with pytest.raises(ReviewRefused, match=r"You may not review this assessment\."):
        review_save(invite=restricted, reviewer=reviewer, **full_review())


def test_others_scores_are_hidden_until_my_own_review_is_submitted(submitted, reviewer, second_reviewer, recruiter):
    review_save(invite=submitted, reviewer=second_reviewer, **full_review(scores={**FULL, "code_quality": "1"}))
    review_save(invite=submitted, reviewer=reviewer, **full_review(submit=False))
    hidden = review_aggregate(invite=submitted, for_user=reviewer)
    assert hidden.hidden and hidden.reviews == [] and hidden.criteria == []
    assert not review_aggregate(invite=submitted, for_user=recruiter).hidden

    review_save(invite=submitted, reviewer=reviewer, **full_review(recommendation="strong_yes"))
    shown = review_aggregate(invite=submitted, for_user=reviewer)
    by_key = {c.key: c for c in shown.criteria}
    assert [c.key for c in shown.criteria] == list(FULL)
    assert by_key["code_quality"].mean == 2.5 and by_key["code_quality"].spread == 3
    assert {(x.reviewer, x.level) for x in by_key["code_quality"].levels} == {("wendy", 1), ("victor", 4)}
    assert by_key["thought_process"].mean == 3 and by_key["thought_process"].spread == 0
    assert shown.recommendations == [("wendy", "Yes"), ("victor", "Strong yes")]


def test_invite_recommendations_reads_submitted_reviews_only_in_one_query(
    submitted, reviewer, second_reviewer, django_assert_num_queries
):
    review_save(invite=submitted, reviewer=reviewer, **full_review(recommendation="strong_no"))
    review_save(invite=submitted, reviewer=second_reviewer, **full_review(submit=False))
    with django_assert_num_queries(1):
        found = invite_recommendations([submitted.pk, 999_999])
    assert found == {submitted.pk: ["strong_no"]}
