"""The queue's columns: each candidate's score and how long they have waited since submitting,
the longest waiting first (or the newest, when asked), and Review and Take on every card."""

import pytest
from django.urls import reverse

from portal.invites.services import invite_submit
from portal.reviews.selectors import review_queue
from portal.scoring.models import Run
from tests.support.factories import push_branches, store_verdicts

from .conftest import make_submitted


@pytest.fixture
def scored(invite):
    """The ``invite`` fixture with issue-1 fixed (ticket 1 earns its points), then submitted."""
    push_branches(invite, 1)
    store_verdicts(invite, passing=frozenset({1}))
    return invite_submit(invite=invite)


def _points(invite) -> tuple[int, int]:
    tickets = invite.assessment_version.manifest["tickets"]
    return tickets[0]["points"], sum(t["points"] for t in tickets)


def test_the_queue_shows_the_score_from_the_stored_analysis(client, reviewer, scored, assessment_version):
    make_submitted(assessment_version, name="Not Pushed", days_ago=2)
    earned, possible = _points(scored)
    items = {item.invite.candidate.name: item for item in review_queue(user=reviewer, view="all")}
    assert (items["Ann Example"].earned, items["Ann Example"].possible) == (earned, possible)
    assert items["Not Pushed"].possible is None and not items["Not Pushed"].scoring

    client.force_login(reviewer)
    page = client.get(reverse("review_queue") + "?view=all").content.decode()
    assert '<th scope="col">Score</th>' in page and f"<strong>{earned}/{possible}</strong>" in page
    assert 'data-label="Score" class="queue-score">not scored</td>' in page


def test_a_score_still_being_computed_says_so(client, reviewer, scored):
    Run.objects.filter(invite=scored).update(status=Run.Status.RUNNING)
    [item] = review_queue(user=reviewer, view="all")
    assert item.scoring
    client.force_login(reviewer)
    page = client.get(reverse("review_queue") + "?view=all").content.decode()
    assert "scoring in progress" in page


def test_the_longest_waiting_comes_first_and_the_order_can_be_turned(client, reviewer, assessment_version):
    for name, days in (("Two Days", 2), ("Five Days", 5), ("One Hour", 1 / 24)):
        make_submitted(assessment_version, name=name, days_ago=days)
    client.force_login(reviewer)
    page = client.get(reverse("review_queue") + "?view=all").content.decode()
    assert page.index("Five Days") < page.index("Two Days") < page.index("One Hour")
    assert ">5 days</time>" in page and ">1 hour</time>" in page and "the longest waiting first" in page
    newest = client.get(reverse("review_queue") + "?view=all&order=newest").content.decode()
    assert newest.index("One Hour") < newest.index("Two Days") < newest.index("Five Days")
    # An order the queue does not know falls back to the longest waiting first.
    odd = client.get(reverse("review_queue") + "?view=all&order=<script>").content.decode()
    assert odd.index("Five Days") < odd.index("One Hour") and "<script>" not in odd


def test_every_row_has_its_review_and_take_buttons_named_for_the_candidate(client, reviewer, assessment_version):
    invite = make_submitted(assessment_version, name="Cy Card", days_ago=1)
    client.force_login(reviewer)
    page = client.get(reverse("review_queue") + "?view=all").content.decode()
    assert f'href="{reverse("review_form", args=[invite.public_id])}" role="button"' in page
    assert 'Review<span class="visually-hidden"> Cy Card</span>' in page
    assert 'Take<span class="visually-hidden"> Cy Card</span>' in page
