"""The review queue: which invites each tab holds, in what order, and in a flat number of queries."""

import pytest

from portal.reviews.selectors import queue_default_view, review_queue
from portal.reviews.services import assignment_take, review_save

from .conftest import full_review, make_submitted

pytestmark = pytest.mark.engines


@pytest.fixture
def three(assessment_version):
    return {
        "new": make_submitted(assessment_version, name="New One", days_ago=1),
        "old": make_submitted(assessment_version, name="Old One", days_ago=3),
        "mid": make_submitted(assessment_version, name="Mid One", days_ago=2),
    }


def _names(items):
    return [item.invite.candidate.name for item in items]


def test_the_oldest_submission_comes_first_with_how_long_it_waited(three, reviewer):
    items = review_queue(user=reviewer, view="all")
    assert _names(items) == ["Old One", "Mid One", "New One"]
    assert items[0].waited_words == "3 days"
    assert items[0].assignees == [] and items[0].my_review == "" and items[0].submitted_reviews == 0


def test_each_tab_holds_its_invites(three, reviewer, second_reviewer):
    assignment_take(invite=three["old"], user=reviewer)
    assignment_take(invite=three["mid"], user=second_reviewer)
    review_save(invite=three["new"], reviewer=reviewer, **full_review())
    review_save(invite=three["mid"], reviewer=reviewer, **full_review(submit=False))
    assert _names(review_queue(user=reviewer, view="mine")) == ["Old One", "Mid One"]
    assert _names(review_queue(user=reviewer, view="unassigned")) == ["New One"]
    assert _names(review_queue(user=reviewer, view="done")) == ["New One"]
    mine = {item.invite.candidate.name: item for item in review_queue(user=reviewer, view="all")}
    assert mine["Old One"].assigned_to_me and mine["Old One"].assignees == [reviewer]
    assert mine["Mid One"].my_review == "draft" and mine["Mid One"].assignees == [second_reviewer]
    assert mine["New One"].my_review == "submitted" and mine["New One"].submitted_reviews == 1
    assert _names(review_queue(user=second_reviewer, view="mine")) == ["Mid One"]


def test_the_queue_opens_on_my_work_when_i_have_some(three, reviewer):
    assert queue_default_view(user=reviewer) == "unassigned"
    assignment_take(invite=three["old"], user=reviewer)
    assert queue_default_view(user=reviewer) == "mine"
    review_save(invite=three["old"], reviewer=reviewer, **full_review())
    assert queue_default_view(user=reviewer) == "unassigned"


def test_active_invites_are_not_in_the_queue(invite, reviewer):
    assert review_queue(user=reviewer, view="all") == []


def test_a_restricted_assessment_is_hidden_from_reviewers_it_does_not_name(
    restricted, reviewer, second_reviewer, admin_user
):
    assert review_queue(user=reviewer, view="all") == []
    assert _names(review_queue(user=second_reviewer, view="all")) == ["Ann Example"]
    assert _names(review_queue(user=admin_user, view="all")) == ["Ann Example"]


def test_an_unknown_tab_is_refused(reviewer):
    with pytest.raises(ValueError, match="unknown queue view"):
        review_queue(user=reviewer, view="everything")


@pytest.mark.parametrize("count", [3, 30])
def test_the_queue_takes_the_same_queries_for_3_or_30_invites(
    assessment_version, reviewer, second_reviewer, count, django_assert_max_num_queries
):
    for n in range(count):
        invite = make_submitted(assessment_version, name=f"Candidate {n}", days_ago=n)
        assignment_take(invite=invite, user=second_reviewer)
        review_save(invite=invite, reviewer=second_reviewer, **full_review(submit=n % 2 == 0))
    with django_assert_max_num_queries(2):
        items = review_queue(user=reviewer, view="all")
        assert [item.assignees[0].username for item in items] == ["wendy"] * count
        assert sum(item.submitted_reviews for item in items) == (count + 1) // 2


def test_the_queue_page_shows_fifty_invites_a_page_oldest_first(client, reviewer, assessment_version):
    from portal.reviews.selectors import QUEUE_PAGE_SIZE

    for n in range(QUEUE_PAGE_SIZE + 3):
        make_submitted(assessment_version, name=f"Paged {n:03d}", days_ago=100 - n)
    client.force_login(reviewer)
    first = client.get("/reviews/?view=all").content.decode()
    assert "Paged 000" in first and f"Paged {QUEUE_PAGE_SIZE - 1:03d}" in first
    assert f"Paged {QUEUE_PAGE_SIZE:03d}" not in first
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = client.get("/reviews/?view=all&page=2").content.decode()
    assert f"Paged {QUEUE_PAGE_SIZE + 2:03d}" in second and "Paged 000" not in second
    assert "Page 2 of 2" in client.get("/reviews/?view=all&page=99").content.decode()  # clamped
